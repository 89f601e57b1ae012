import type { DataSource } from 'typeorm';
import { ComputeNode } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import type { RemoteError, RpcClient } from '@bm/messaging';
import { type TestBus, eventually, openBus, uniqueName } from '../../../test/support/amqp';
import { bmctl } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// The built compute and scheduler services on the real broker and database: compute reports each
// enrolled node as a hypervisor (compute_nodes + fanout to the scheduler), the scheduler matches
// flavors to nodes (select_destinations), as a Nova-style caller would use them over oslo RPC.
const HOST = 'cn-sched';
const flavor = (vcpus: number, memory_mb: number, root_gb: number, extra_specs: Record<string, string> = {}) => ({
  name: `bm.${vcpus}-${memory_mb}-${root_gb}`,
  vcpus,
  memory_mb,
  root_gb,
  ephemeral_gb: 0,
  swap: 0,
  flavorid: 'x',
  rxtx_factor: 1.0,
  extra_specs,
});

describe('compute resource reports and the scheduler', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let enroll: EnrollmentService;
  let compute: ServiceProcess;
  let scheduler: ServiceProcess;
  let bus: TestBus;
  let rpc: RpcClient;
  const exchange = uniqueName('sched');
  const uuids: string[] = [];
  let env: () => Promise<Record<string, string>>;

  const select = (f: ReturnType<typeof flavor>, filterProperties: Record<string, unknown> = {}) =>
    rpc.call<{ host: string; nodename: string }[]>(
      { topic: 'scheduler' },
      'select_destinations',
      {
        request_spec: {
          instance_type: f,
          num_instances: 1,
          image: { id: 'img' },
          instance_properties: { memory_mb: f.memory_mb },
        },
        filter_properties: filterProperties,
      },
      { version: '4.0', timeout: 10 },
    );

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_sched');
    ds = db.ds;
    enroll = new EnrollmentService(ds, HOST);
    for (const [i, [cpus, mem, disk]] of [
      [1, 1024, 10],
      [2, 2048, 20],
      [2, 4096, 40],
    ].entries()) {
      const n = await enroll.createNode({
        macs: [`52:54:00:91:00:0${i + 1}`],
        cpus,
        memory_mb: mem,
        local_gb: disk,
        pm_address: `10.0.0.${i + 1}`,
        cpu_arch: 'x86_64',
      });
      uuids.push(n.uuid!);
    }
    env = () =>
      serviceEnv(
        { databaseUrl: db.url, exchange, host: HOST },
        { BM_INSTANCE_TYPE_EXTRA_SPECS: 'cpu_arch:x86_64,rack:r1' },
      );
    scheduler = startService('scheduler', await env());
    await scheduler.waitFor('rpc=');
    compute = startService('compute', await env());
    await compute.waitFor('rpc=');
    bus = await openBus(exchange);
    rpc = bus.rpc;
  }, 60_000);

  afterAll(async () => {
    await compute?.stop();
    await scheduler?.stop();
    await bus?.close();
    await db?.drop();
  });

  it('each node becomes a hypervisor record (compute_nodes), hypervisor_hostname = node uuid', async () => {
    const rows = await eventually(
      async () => {
        const r = await ds.getRepository(ComputeNode).find({ where: { host: HOST }, order: { id: 'ASC' } });
        expect(r).toHaveLength(3);
        return r;
      },
      15_000,
      200,
    );
    expect(
      rows.map((r) => [
        r.hypervisor_hostname,
        r.vcpus,
        r.memory_mb,
        r.local_gb,
        r.vcpus_used,
        r.hypervisor_type,
        r.cpu_info,
      ]),
    ).toEqual([
      [uuids[0], 1, 1024, 10, 0, 'baremetal', 'baremetal cpu'],
      [uuids[1], 2, 2048, 20, 0, 'baremetal', 'baremetal cpu'],
      [uuids[2], 2, 4096, 40, 0, 'baremetal', 'baremetal cpu'],
    ]);
    expect(JSON.parse(rows[0].stats)).toEqual({
      baremetal_driver: 'nova.virt.baremetal.pxe.PXE',
      cpu_arch: 'x86_64',
      rack: 'r1',
    });
  });

  it('bmctl hypervisor list and show', async () => {
    const list = await bmctl(['hypervisor', 'list', '--json'], { DATABASE_URL: db.url });
    // -f json lists are keyed by column header, as OpenStack's CLI prints them.
    expect((JSON.parse(list.out) as { 'Hypervisor hostname': string }[]).map((h) => h['Hypervisor hostname'])).toEqual(
      uuids,
    );
    const human = await bmctl(['hypervisor', 'list'], { DATABASE_URL: db.url });
    expect(human.out).toMatch(new RegExp(`${uuids[2]} │ cn-sched │ 0/2 +│ 0/4096 +│ 0/40 +│ x86_64`));
    const one = JSON.parse((await bmctl(['hypervisor', 'show', uuids[0], '--json'], { DATABASE_URL: db.url })).out);
    expect(one).toMatchObject({
      hypervisor_hostname: uuids[0],
      host: HOST,
      vcpus: 1,
      cpu_info: 'baremetal cpu',
      stats: { cpu_arch: 'x86_64', rack: 'r1' },
    });
    const missing = await bmctl(['hypervisor', 'show', 'nope'], { DATABASE_URL: db.url });
    expect([missing.code, missing.err.trim()]).toEqual([
      1,
      'bmctl: HypervisorNotFound: Hypervisor nope could not be found.',
    ]);
  });

  it('compute answers get_available_resource for its nodes, {} for others', async () => {
    const r = await rpc.call<Record<string, unknown>>(
      { topic: 'compute', server: HOST },
      'get_available_resource',
      { nodename: uuids[1] },
      { version: '6.0', timeout: 10 },
    );
    expect(r).toMatchObject({
      vcpus: 2,
      memory_mb: 2048,
      local_gb: 20,
      memory_mb_used: 0,
      hypervisor_hostname: uuids[1],
      supported_instances: '[["x86_64","baremetal","baremetal"]]',
    });
    expect(
      await rpc.call(
        { topic: 'compute', server: HOST },
        'get_available_resource',
        { nodename: 'nope' },
        { version: '6.0', timeout: 10 },
      ),
    ).toEqual({});
    // Grizzly-era callers send 2.x; both endpoints serve the same methods.
    expect(
      await rpc.call(
        { topic: 'compute', server: HOST },
        'get_available_resource',
        { nodename: uuids[1] },
        { version: '2.27', timeout: 10 },
      ),
    ).toMatchObject({ hypervisor_hostname: uuids[1] });
    const unsupported = (await rpc
      .call({ topic: 'compute', server: HOST }, 'get_available_nodes', {}, { version: '7.0', timeout: 10 })
      .catch((x) => x)) as RemoteError;
    expect(unsupported.name).toBe('UnsupportedVersion');
  });

  it('select_destinations: the node equal to the flavor; extra specs matched; the node consumed', async () => {
    await eventually(
      async () =>
        expect(await select(flavor(2, 2048, 20, { cpu_arch: 'x86_64' }))).toEqual([
          { host: HOST, nodename: uuids[1], limits: {} },
        ]),
      15_000,
      300,
    );
    const e = (await select(flavor(2, 2048, 20)).catch((x) => x)) as RemoteError;
    expect(e.name).toBe('NoValidHost');
    expect(e.message).toMatch(
      /No valid host was found\. 0 of 3 nodes fit flavor bm\.2-2048-20 \(ExactCoreFilter rejected 2, ExactRamFilter rejected 1\)/,
    );
    const specs = (await select(flavor(2, 4096, 40, { cpu_arch: 'aarch64' })).catch((x) => x)) as RemoteError;
    expect(specs.message).toMatch(/ComputeCapabilitiesFilter rejected 1/);
  });

  it('a node enrolled now is schedulable within seconds (no waiting for the 60 s period)', async () => {
    const n = await enroll.createNode({
      macs: ['52:54:00:91:00:09'],
      cpus: 4,
      memory_mb: 8192,
      local_gb: 80,
      pm_address: '10.0.0.9',
    });
    await eventually(
      async () => expect(await select(flavor(4, 8192, 80))).toEqual([{ host: HOST, nodename: n.uuid, limits: {} }]),
      10_000,
      300,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}\ncompute:\n${compute.output().slice(-3000)}\nscheduler:\n${scheduler.output().slice(-2000)}`,
      );
    });
  }, 15_000);

  it('retry: nodes already tried are skipped; past scheduler_max_attempts it is NoValidHost', async () => {
    const f = flavor(1, 1024, 10);
    const tried = (await select(f, { retry: { num_attempts: 2, hosts: [[HOST, uuids[0]]] } }).catch(
      (x) => x,
    )) as RemoteError;
    expect(tried.message).toMatch(/RetryFilter rejected 1/);
    const many = (await select(f, { retry: { num_attempts: 4, hosts: [] } }).catch((x) => x)) as RemoteError;
    expect([many.name, many.message]).toEqual([
      'NoValidHost',
      'No valid host was found. Exceeded max scheduling attempts 3 for this request.',
    ]);
  });

  it('bad arguments are named', async () => {
    const e = (await select({ ...flavor(1, 1024, 10), vcpus: 'one' as unknown as number }).catch(
      (x) => x,
    )) as RemoteError;
    expect([e.name, e.message]).toEqual([
      'InvalidParameterValue',
      'Invalid flavor: request_spec.instance_type.vcpus: must be an integer number',
    ]);
    const bad = (await rpc
      .call({ topic: 'scheduler' }, 'select_destinations', { request_spec: 'x' }, { version: '4.0', timeout: 10 })
      .catch((x) => x)) as RemoteError;
    expect(bad.name).toBe('InvalidRpcArguments');
  });

  it('a restarted scheduler knows the nodes from compute_nodes before any new report', async () => {
    await scheduler.stop();
    scheduler = startService('scheduler', await env());
    await scheduler.waitFor('rpc=');
    expect(scheduler.output()).toContain('4 node(s) from compute_nodes; policy exact');
    await eventually(
      () => expect(compute.output()).toMatch(/reported 4 node\(s\) in \d+ ms \(scheduler asked\)/),
      10_000,
      100,
    );
    expect(await select(flavor(1, 1024, 10))).toEqual([{ host: HOST, nodename: uuids[0], limits: {} }]);
  }, 30_000);
});
