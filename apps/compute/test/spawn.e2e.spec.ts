import { execFile, spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { COMPUTE_BAREMETAL as DEPLOY_EVENT_SURFACE } from '@bm/contracts';
import { EnrollmentService } from '@bm/enrollment';
import type { SimulatedMachine } from '@bm/ipmi';
import type { ReceivedNotification, RemoteError, RpcClient } from '@bm/messaging';
import { TEST_AMQP_URL, type TestBus, eventually, openBus, uniqueName } from '../../../test/support/amqp';
import { ROOT } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { type BmcNode, enrollBmcNode } from '../../../test/support/nodes';
import { testPasswordVault } from '../../../test/support/passwords';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// The seed's spawn across the built services on the real broker and database: compute claims the
// node, has netboot write the PXE files and the power service (real IPMI 2.0 to a virtual BMC) set
// PXE and power-cycle it, then waits for the deploy. The test stands in for the deploy helper
// (the next issue) by doing what it does: task_state deploying, then deploy complete, each
// written to the row and then announced with a deploy_state_changed cast. Compute polls the row
// only every 30 s here, so a spawn that finishes in seconds was woken by the event.
const HOST = 'cn-spawn';
const PASSWORD = 'bmc-Secret-7';
const INSTANCE_A = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a0a';
const INSTANCE_B = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a0b';
const INSTANCE_C = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a0c';
const DEPLOY_TIMEOUT_S = 4;
const POLL_S = 30;
const INSTANCE_P = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a0f';
const INSTANCE_R = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a0e';
const PEERS = join(ROOT, 'test/peers/oslo');
const execP = promisify(execFile);

describe('spawn: compute → netboot + power → deploy → active', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let site: TestImages;
  /** Nova's image meta of the instance image: id and properties kernel_id / ramdisk_id. */
  let images: Record<string, unknown>;
  const services: ServiceProcess[] = [];
  let computeEnv: Record<string, string>;
  let bus: TestBus;
  let rpc: RpcClient;
  const notes: ReceivedNotification[] = [];
  const exchange = uniqueName('spawn');
  const nodes: BmcNode[] = [];

  const row = async (id: number) =>
    (
      await ds.query(
        'SELECT task_state, instance_uuid, instance_name, deploy_key, pxe_config_path FROM bm_nodes WHERE id = $1',
        [id],
      )
    )[0];
  const run = (instance: string, node: string, how: 'call' | 'cast' = 'call') => {
    const args = {
      instance: {
        uuid: instance,
        hostname: `vm-${instance.slice(-1)}`,
        memory_mb: 512,
        project_id: 'p1',
        user_id: 'u1',
      },
      node,
      image: images,
      request_spec: {
        num_instances: 1,
        instance_type: { name: 'bm.test', flavorid: 'f1', vcpus: 1, memory_mb: 512, root_gb: 5, ephemeral_gb: 0 },
      },
      filter_properties: {},
    };
    return how === 'cast'
      ? rpc.cast({ topic: 'compute', server: HOST }, 'run_instance', args, { version: '6.0' })
      : rpc.call<Record<string, unknown>>({ topic: 'compute', server: HOST }, 'run_instance', args, {
          version: '6.0',
          timeout: 30,
        });
  };
  /** The deploy helper's part: the row first (the truth), then the event that wakes compute. */
  const deployHelper = async (node: { id: number }, instance: string, taskState: 'deploying' | 'deploy complete') => {
    await ds.query(`UPDATE bm_nodes SET task_state = $2, updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1`, [
      node.id,
      taskState,
    ]);
    await rpc.cast(
      { topic: DEPLOY_EVENT_SURFACE.topic, server: HOST },
      DEPLOY_EVENT_SURFACE.methods.deployStateChanged,
      { node_id: node.id, instance_uuid: instance, task_state: taskState },
      { version: DEPLOY_EVENT_SURFACE.version, namespace: DEPLOY_EVENT_SURFACE.namespace },
    );
  };
  const linkOf = (mac: string) => join(work, 'tftpboot', 'pxelinux.cfg', `01-${mac.replace(/:/g, '-')}`);
  const machineLog = (m: SimulatedMachine) =>
    m.events.map((e) => (e.op === 'boot' ? `boot ${e.boot!.device}` : `power ${e.action}`));

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'spawn-'));
    db = await createNovaBmDatabase('bm_spawn');
    ds = db.ds;
    const enroll = new EnrollmentService(ds, HOST, testPasswordVault());
    for (let i = 0; i < 3; i++) nodes.push(await enrollBmcNode(enroll, `52:54:00:a0:00:0${i + 1}`, PASSWORD));
    bus = await openBus(exchange, notes);
    rpc = bus.rpc;
    const where = { databaseUrl: db.url, exchange, host: HOST };
    // The images by id: the deploy pair is compute's [baremetal] deploy_kernel / deploy_ramdisk.
    site = await startTestImages(where, join(work, 'images'));
    images = site.meta();
    services.push(startService('power', await serviceEnv(where, { BM_IPMI_DEADLINE: '3' })));
    services.push(
      startService('netboot', await serviceEnv(where, { BM_TFTP_ROOT: join(work, 'tftpboot'), ...site.env })),
    );
    computeEnv = await serviceEnv(where, {
      ...site.env,
      BM_DEPLOY_KERNEL: site.ids.deploy_kernel,
      BM_DEPLOY_RAMDISK: site.ids.deploy_ramdisk,
      BM_PXE_DEPLOY_TIMEOUT: String(DEPLOY_TIMEOUT_S),
      BM_DEPLOY_POLL_INTERVAL: String(POLL_S),
      BM_DEBUG: 'true',
    });
    services.push(startService('compute', computeEnv));
    for (const s of services) await s.waitFor('rpc=');
  }, 60_000);

  afterAll(async () => {
    for (const s of services) await s.stop();
    await site?.stop();
    await bus?.close();
    for (const n of nodes) await n.bmc.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('run_instance: building → prepared with the PXE files in place and the node power-cycled into PXE', async () => {
    const a = nodes[0];
    await run(INSTANCE_A, a.uuid, 'cast');
    const prepared = await eventually(
      async () => {
        const r = await row(a.id);
        expect(r.task_state).toBe('prepared');
        return r;
      },
      20_000,
      100,
    );
    expect(prepared).toMatchObject({ instance_uuid: INSTANCE_A, instance_name: 'vm-a' });
    // The node was off: the power service skips a power off that is not needed (as Nova's IPMI driver).
    expect(machineLog(a.machine)).toEqual(['boot pxe', 'power on']);
    // PXE persistently (Havana on, bug 1178092): the deploy ramdisk's reboot must PXE-boot again.
    expect(a.machine.events.find((e) => e.op === 'boot')!.boot).toMatchObject({ device: 'pxe', persistent: true });
    expect(a.machine.isPoweredOn()).toBe(true);
    const cfg = await readFile(linkOf(a.mac), 'utf8');
    expect(cfg).toContain(`deployment_id=${a.id} deployment_key=${prepared.deploy_key}`);
    expect(prepared.pxe_config_path).toBe(join(work, 'tftpboot', INSTANCE_A, 'config'));
  }, 30_000);

  it("the deploy helper's events (deploying, deploy complete) → active at once; create.start and create.end notified", async () => {
    const a = nodes[0];
    await deployHelper(a, INSTANCE_A, 'deploying');
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    await deployHelper(a, INSTANCE_A, 'deploy complete');
    await eventually(async () => expect((await row(a.id)).task_state).toBe('active'), 10_000, 20);
    // Woken by the event (compute says so at DEBUG), not by the 30 s poll or the 4 s deadline.
    await services[2].waitFor(`deploy of ${INSTANCE_A} on node ${a.id}: deploy complete (1 spawn(s) woken)`, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    await eventually(() =>
      expect(notes.map((n) => n.eventType)).toEqual(
        expect.arrayContaining(['compute.instance.create.start', 'compute.instance.create.end']),
      ),
    );
    // Nova's legacy payload (info_from_instance), from the instance and flavor the caller sent.
    expect(notes.find((n) => n.eventType === 'compute.instance.create.start')!.payload).toMatchObject({
      instance_id: INSTANCE_A,
      state: 'building',
      state_description: 'spawning',
      launched_at: '',
    });
    expect(notes.find((n) => n.eventType === 'compute.instance.create.end')!.payload).toMatchObject({
      instance_id: INSTANCE_A,
      node: a.uuid,
      host: HOST,
      state: 'active',
      state_description: '',
      tenant_id: 'p1',
      user_id: 'u1',
      display_name: 'vm-a',
      hostname: 'vm-a',
      instance_type: 'bm.test',
      instance_flavor_id: 'f1',
      memory_mb: 512,
      vcpus: 1,
      root_gb: 5,
      disk_gb: 5,
      message: 'Success',
      launched_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
    });
  }, 20_000);

  const act = (method: string, instance: string, extra: Record<string, unknown> = {}) =>
    rpc.call<Record<string, unknown>>(
      { topic: 'compute', server: HOST },
      method,
      { instance: { uuid: instance }, ...extra },
      { version: '6.0', timeout: 20 },
    );

  it('list_instances, get_info, reboot (off, PXE, on), stop/start without touching task_state', async () => {
    const a = nodes[0];
    expect(
      await rpc.call({ topic: 'compute', server: HOST }, 'list_instances', {}, { version: '6.0', timeout: 10 }),
    ).toEqual(['vm-a']);
    expect(await act('get_info', INSTANCE_A)).toEqual({ state: 1, max_mem: 512, mem: 512, num_cpu: 1, cpu_time: 0 });
    const before = a.machine.events.length;
    expect(await act('reboot_instance', INSTANCE_A, { reboot_type: 'HARD' })).toEqual({
      node: a.uuid,
      task_state: 'active',
    });
    expect(machineLog(a.machine).slice(before)).toEqual(['power off', 'boot pxe', 'power on']);
    await act('stop_instance', INSTANCE_A);
    expect(a.machine.isPoweredOn()).toBe(false);
    expect((await act('get_info', INSTANCE_A)).state).toBe(4);
    await act('start_instance', INSTANCE_A);
    expect(a.machine.isPoweredOn()).toBe(true);
    expect((await row(a.id)).task_state).toBe('active');
    // rebuild (Icehouse): the same node, building → prepared again; the deploy helper's states → active.
    const rebuilt = act('rebuild_instance', INSTANCE_A, { image: images, preserve_ephemeral: true });
    await eventually(async () => expect((await row(a.id)).task_state).toBe('prepared'), 20_000, 100);
    expect(
      (await ds.query('SELECT preserve_ephemeral FROM bm_nodes WHERE id = $1', [a.id]))[0].preserve_ephemeral,
    ).toBe(true);
    await deployHelper(a, INSTANCE_A, 'deploying');
    await deployHelper(a, INSTANCE_A, 'deploy complete');
    expect(await rebuilt).toEqual({ node_id: a.id, task_state: 'active' });
    const missing = (await act('reboot_instance', INSTANCE_C).catch((x) => x)) as RemoteError;
    expect([missing.name, missing.message]).toEqual(['InstanceNotFound', `Instance ${INSTANCE_C} could not be found.`]);
    await eventually(() =>
      expect(notes.map((n) => n.eventType)).toEqual(
        expect.arrayContaining([
          'compute.instance.reboot.end',
          'compute.instance.power_off.end',
          'compute.instance.power_on.end',
          'compute.instance.rebuild.end',
        ]),
      ),
    );
    // Nova's vm_state / task_state for each step.
    const states = (t: string) =>
      notes
        .filter((n) => n.eventType === t)
        .map((n) => {
          const p = n.payload as { state: string; state_description: string; node: string };
          return [p.state, p.state_description, p.node];
        })[0];
    expect(states('compute.instance.reboot.start')).toEqual(['active', 'rebooting', a.uuid]);
    expect(states('compute.instance.power_off.end')).toEqual(['stopped', '', a.uuid]);
    expect(states('compute.instance.power_on.start')).toEqual(['stopped', 'powering-on', a.uuid]);
    expect(states('compute.instance.rebuild.end')).toEqual(['active', '', a.uuid]);
  }, 30_000);

  it('a node carrying an instance is refused (NodeAssociated), nothing touched', async () => {
    const a = nodes[0];
    const before = a.machine.events.length;
    const e = (await run(INSTANCE_C, a.uuid).catch((x) => x)) as RemoteError;
    expect([e.name, e.message]).toEqual(['NodeAssociated', `Node ${a.uuid} is associated with instance ${INSTANCE_A}`]);
    expect(a.machine.events.length).toBe(before);
    expect((await row(a.id)).instance_uuid).toBe(INSTANCE_A);
  });

  it('two spawns racing for one node: one claim wins; no callback before the deadline → error, cleaned up, node released', async () => {
    const b = nodes[1];
    const results = await Promise.allSettled([run(INSTANCE_B, b.uuid), run(INSTANCE_C, b.uuid)]);
    const errors = results.map((r) => (r.status === 'rejected' ? (r.reason as RemoteError) : undefined));
    expect(errors.map((e) => e?.name).sort()).toEqual(['InstanceDeployFailure', 'NodeAssociated']);
    const timeout = errors.find((e) => e?.name === 'InstanceDeployFailure')!;
    expect(timeout.message).toMatch(/^Timeout reached while waiting for PXE deploy of instance /);
    expect(await row(b.id)).toMatchObject({
      task_state: 'deleted',
      instance_uuid: null,
      instance_name: null,
      deploy_key: null,
      pxe_config_path: null,
    });
    await expect(lstat(linkOf(b.mac))).rejects.toThrow(/ENOENT/);
    expect(machineLog(b.machine)).toEqual(['boot pxe', 'power on', 'power off']);
    await eventually(() =>
      expect(notes.filter((n) => n.eventType === 'compute.instance.create.error').map((n) => n.priority)).toContain(
        'ERROR',
      ),
    );
  }, 40_000);

  it('terminate_instance: power off, PXE files removed, node released; an unknown instance is a no-op', async () => {
    const a = nodes[0];
    expect(await act('terminate_instance', INSTANCE_A)).toEqual({ node: a.uuid });
    expect(await row(a.id)).toMatchObject({
      task_state: 'deleted',
      instance_uuid: null,
      deploy_key: null,
      pxe_config_path: null,
    });
    expect(a.machine.isPoweredOn()).toBe(false);
    await expect(lstat(linkOf(a.mac))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(work, 'tftpboot', INSTANCE_A))).rejects.toThrow(/ENOENT/);
    expect(await act('terminate_instance', INSTANCE_A)).toEqual({ node: null });
    await eventually(() => expect(notes.map((n) => n.eventType)).toContain('compute.instance.delete.end'));
    expect(notes.find((n) => n.eventType === 'compute.instance.delete.end')!.payload).toMatchObject({
      instance_id: INSTANCE_A,
      node: a.uuid,
      state: 'deleted',
      deleted_at: expect.stringMatching(/T/),
    });
  }, 20_000);

  it('a Python oslo.messaging client makes the same calls; a Python listener hears create.end', async () => {
    const c = nodes[2];
    const py = async (method: string, kwargs: Record<string, unknown>) => {
      const { stdout } = await execP(
        '/usr/bin/python3',
        [
          join(PEERS, 'rpc_client.py'),
          '--url',
          TEST_AMQP_URL,
          '--exchange',
          exchange,
          '--topic',
          'compute',
          '--server',
          HOST,
          '--version',
          '6.0',
          '--timeout',
          '30',
          'call',
          method,
          JSON.stringify(kwargs),
        ],
        { timeout: 40_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
      );
      return JSON.parse(stdout.trim().split('\n').pop()!) as {
        result?: unknown;
        error?: { exc_type: string; message: string };
      };
    };
    const listener = spawn(
      '/usr/bin/python3',
      [
        join(PEERS, 'listen.py'),
        '--url',
        TEST_AMQP_URL,
        '--exchange',
        exchange,
        '--pool',
        uniqueName('pypool'),
        '--count',
        '2',
        '--timeout',
        '40',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
    );
    const heard: { event_type: string; payload: Record<string, unknown> }[] = [];
    await new Promise<void>((ok, fail) => {
      listener.once('exit', (code) => fail(new Error(`listen.py exited ${code} before READY`)));
      createInterface({ input: listener.stdout! }).on('line', (l) =>
        l === 'READY' ? ok() : heard.push(JSON.parse(l)),
      );
    });
    const done = new Promise<number | null>((r) => listener.on('exit', r));

    expect((await py('get_available_nodes', {})).result).toEqual(nodes.map((n) => n.uuid));
    expect((await py('get_available_resource', { nodename: c.uuid })).result).toMatchObject({
      hypervisor_hostname: c.uuid,
      vcpus: 1,
      memory_mb: 512,
      cpu_info: 'baremetal cpu',
    });
    // run_instance from Python waits until active; meanwhile the test plays the deploy helper.
    const running = py('run_instance', {
      instance: { uuid: INSTANCE_P, hostname: 'py-vm' },
      node: c.uuid,
      image: images,
    });
    await eventually(async () => expect((await row(c.id)).task_state).toBe('prepared'), 20_000, 100);
    await deployHelper(c, INSTANCE_P, 'deploying');
    await deployHelper(c, INSTANCE_P, 'deploy complete');
    expect((await running).result).toEqual({ node: c.uuid, node_id: c.id, task_state: 'active' });
    expect((await py('list_instances', {})).result).toEqual(['py-vm']);
    const bad = await py('get_info', { instance: { uuid: INSTANCE_B } });
    expect(bad.error).toMatchObject({
      exc_type: 'InstanceNotFound',
      message: expect.stringContaining(`Instance ${INSTANCE_B} could not be found.`),
    });

    expect(await done).toBe(0);
    expect(heard.map((h) => h.event_type)).toEqual(['compute.instance.create.start', 'compute.instance.create.end']);
    expect(heard[1].payload).toMatchObject({
      instance_id: INSTANCE_P,
      display_name: 'py-vm',
      node: c.uuid,
      state: 'active',
    });
  }, 60_000);

  it('bad arguments are named', async () => {
    const e = (await rpc
      .call(
        { topic: 'compute', server: HOST },
        'run_instance',
        { instance: { uuid: 'nope' }, node: nodes[1].uuid, image: { kernel: 'relative' } },
        { version: '6.0', timeout: 10 },
      )
      .catch((x) => x)) as RemoteError;
    expect([e.name, e.message]).toEqual(['InvalidParameterValue', 'Invalid instance: instance.uuid: must be a UUID']);
    const img = (await rpc
      .call(
        { topic: 'compute', server: HOST },
        'run_instance',
        {
          instance: { uuid: INSTANCE_C },
          node: nodes[1].uuid,
          image: { id: '/srv/disk.img', properties: { kernel_id: '/boot/vmlinuz' } },
        },
        { version: '6.0', timeout: 10 },
      )
      .catch((x) => x)) as RemoteError;
    // The seed's message for a missing boot image, then: never a path.
    expect([img.name, img.message]).toEqual([
      'NovaException',
      "Can not activate PXE bootloader. The following boot parameters were not passed to baremetal driver: ['ramdisk']",
    ]);
    const path = (await rpc
      .call(
        { topic: 'compute', server: HOST },
        'run_instance',
        { instance: { uuid: INSTANCE_C }, node: nodes[1].uuid, image: { ...images, id: '/srv/disk.img' } },
        { version: '6.0', timeout: 10 },
      )
      .catch((x) => x)) as RemoteError;
    expect([path.name, path.message]).toEqual([
      'InvalidParameterValue',
      'Invalid image: image.id: must be an image id (a UUID), not "/srv/disk.img"',
    ]);
    expect((await row(nodes[1].id)).instance_uuid).toBeNull();
    // The deploy helper's event is validated too (sent as a call here, so the error comes back).
    const ev = (await rpc
      .call(
        { topic: DEPLOY_EVENT_SURFACE.topic, server: HOST },
        DEPLOY_EVENT_SURFACE.methods.deployStateChanged,
        { node_id: 0, instance_uuid: 'x', task_state: 'active' },
        { version: DEPLOY_EVENT_SURFACE.version, namespace: DEPLOY_EVENT_SURFACE.namespace, timeout: 10 },
      )
      .catch((x) => x)) as RemoteError;
    expect(ev.name).toBe('InvalidRpcArguments');
    expect(ev.message).toMatch(/node_id.*instance_uuid.*task_state/s);
  });

  it('a build cast refused for its arguments is not silent: compute.instance.create.error names the instance and why', async () => {
    const refused = '0b6f6c9e-6a51-4c8e-9f7e-4d1f3c2b1a09';
    await rpc.cast(
      { topic: 'compute', server: HOST },
      'build_and_run_instance',
      { instance: { uuid: refused }, node: nodes[1].uuid, image: images, no_such_argument: 1 },
      { version: '6.0' },
    );
    const error = await eventually(
      () => {
        const n = notes.find(
          (x) =>
            x.eventType === 'compute.instance.create.error' &&
            (x.payload as { instance_id?: string }).instance_id === refused,
        );
        if (!n) throw new Error('no compute.instance.create.error yet');
        return n;
      },
      10_000,
      100,
    );
    expect(error.priority).toBe('ERROR');
    expect(error.payload).toMatchObject({
      exception: 'InvalidRpcArguments',
      message: expect.stringContaining('Invalid arguments for build_and_run_instance: no_such_argument'),
    });
    expect((await row(nodes[1].id)).instance_uuid).toBeNull();
  });

  it('compute killed while a node waits for its deploy: the restarted compute takes the spawn up; the deploy completes → active', async () => {
    const b = nodes[1];
    await run(INSTANCE_R, b.uuid, 'cast');
    await eventually(async () => expect((await row(b.id)).task_state).toBe('prepared'), 20_000, 100);
    services[2].child.kill('SIGKILL');
    await services[2].exited;
    await deployHelper(b, INSTANCE_R, 'deploying'); // the deploy goes on while compute is away
    services[2] = startService('compute', computeEnv);
    await services[2].waitFor(`node ${b.id}: the spawn of ${INSTANCE_R} was interrupted in 'deploying'; taking it up`);
    await deployHelper(b, INSTANCE_R, 'deploy complete');
    await eventually(async () => expect((await row(b.id)).task_state).toBe('active'), 10_000, 100);
    await services[2].waitFor(`instance ${INSTANCE_R} active on node ${b.id} (resumed after a restart)`);
    await eventually(() =>
      expect(
        notes
          .filter((n) => n.eventType === 'compute.instance.create.end')
          .map((n) => (n.payload as { instance_id: string }).instance_id),
      ).toContain(INSTANCE_R),
    );
  }, 40_000);
});
