import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import { eventually, uniqueName } from '../../../test/support/amqp';
import { BMCTL, ROOT, bmctl } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { startVirtualBmc } from '../../../test/support/nodes';
import {
  type ServiceProcess,
  type ServiceSite,
  serviceEnv,
  siteEnv,
  startService,
} from '../../../test/support/service';

// The operator's path of the seed with bmctl: flavors, hypervisors, boot (scheduler → compute →
// netboot + power over the bus, IPMI to virtual BMCs), instance list, reboot, power, delete.
const HOST = 'cn-cli';
const PASSWORD = 'bmc-Cli-3';

describe('bmctl flavor, boot, instance, delete', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let images: TestImages;
  /** The instance image, named as an operator would give it to bmctl boot --image. */
  const IMAGE = 'test-image';
  const services: ServiceProcess[] = [];
  const bmcs: { bmc: VirtualBmc; machine: SimulatedMachine }[] = [];
  const uuids: string[] = [];
  const exchange = uniqueName('cli');
  let env: Record<string, string>;
  const cli = (...args: string[]) => bmctl(args, env);
  /** bmctl started, its stderr readable while it runs. */
  const running = (args: string[]) => {
    const child = spawn(BMCTL, args, { cwd: ROOT, env: { PATH: process.env.PATH!, TZ: 'UTC', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end();
    const done = new Promise<{ code: number; out: string; err: string }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    });
    return { err: () => err, done };
  };
  const nodeState = async (uuid: string) =>
    ((await ds.query('SELECT task_state FROM bm_nodes WHERE uuid = $1', [uuid])) as { task_state: string }[])[0]
      ?.task_state;
  /**
   * The deploy helper's part (not running here): the image written, deploy complete in the row,
   * then its deploy_state_changed event (sent with bmctl rpc) → compute makes the node active.
   */
  const deployDone = async (uuid: string) => {
    const [{ id, instance_uuid }] = await ds.query(
      `UPDATE bm_nodes SET task_state = 'deploy complete' WHERE uuid = $1 RETURNING id, instance_uuid`,
      [uuid],
    );
    const event = await cli(
      'rpc',
      'cast',
      'deploy_state_changed',
      JSON.stringify({ node_id: id, instance_uuid, task_state: 'deploy complete' }),
      '--topic',
      'compute',
      '--server',
      HOST,
      '--namespace',
      'baremetal',
      '--version',
      '1.0',
    );
    expect(event.code).toBe(0);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'bmctl-inst-'));
    db = await createNovaBmDatabase('bm_cli_inst');
    ds = db.ds;
    const site: ServiceSite = { databaseUrl: db.url, exchange, host: HOST };
    images = await startTestImages(site, join(work, 'images'));
    env = { ...siteEnv(site), ...images.env };
    // The hardware is enrolled the operator's way: bmctl node import of a baremetal.csv.
    const csv = ['mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port'];
    for (const [i, [cpus, mem, disk]] of [
      [1, 512, 5],
      [2, 1024, 10],
    ].entries()) {
      const { bmc, machine } = await startVirtualBmc(PASSWORD);
      bmcs.push({ bmc, machine });
      csv.push(`52:54:00:d0:00:0${i + 1},admin,${PASSWORD},127.0.0.1:${bmc.port},${cpus},${mem},${disk},x86_64,,`);
    }
    await writeFile(join(work, 'baremetal.csv'), `${csv.join('\n')}\n`);
    const imported = await cli('node', 'import', join(work, 'baremetal.csv'));
    expect(imported.code).toBe(0);
    const listed = JSON.parse((await cli('node', 'list', '--json')).out) as { UUID: string; Host: string }[];
    expect(listed.map((n) => n.Host)).toEqual([HOST, HOST]);
    uuids.push(...listed.map((n) => n.UUID));
    const svc = async (app: string, extra: Record<string, string> = {}) => {
      const p = startService(app, await serviceEnv(site, extra));
      services.push(p);
      await p.waitFor('rpc=');
    };
    await svc('scheduler');
    await svc('power');
    await svc('netboot', { BM_TFTP_ROOT: join(work, 'tftpboot'), ...images.env });
    await svc('compute', { BM_PXE_DEPLOY_TIMEOUT: '120', ...images.env });
  }, 60_000);

  afterAll(async () => {
    for (const s of services) await s.stop();
    await images?.stop();
    for (const b of bmcs) await b.bmc.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('flavor create and list; a duplicate name is refused', async () => {
    expect(
      (
        await cli(
          'flavor',
          'create',
          'bm.small',
          '--vcpus',
          '1',
          '--ram',
          '512',
          '--disk',
          '5',
          '--extra-spec',
          'cpu_arch=x86_64',
          '--extra-spec',
          `baremetal:deploy_kernel_id=${images.ids.deploy_kernel}`,
          '--extra-spec',
          `baremetal:deploy_ramdisk_id=${images.ids.deploy_ramdisk}`,
        )
      ).out,
    ).toMatch(/│ name +│ bm\.small +│/);
    const dup = await cli('flavor', 'create', 'bm.small', '--vcpus', '1', '--ram', '512', '--disk', '5');
    expect([dup.code, dup.err.trim()]).toEqual([1, 'bmctl: FlavorExists: Flavor bm.small already exists']);
    expect(JSON.parse((await cli('flavor', 'list', '--json')).out)).toEqual([
      {
        ID: expect.any(Number),
        Name: 'bm.small',
        VCPUs: 1,
        RAM: 512,
        Disk: 5,
        Ephemeral: 0,
        Swap: 0,
        Properties: {
          cpu_arch: 'x86_64',
          'baremetal:deploy_kernel_id': images.ids.deploy_kernel,
          'baremetal:deploy_ramdisk_id': images.ids.deploy_ramdisk,
        },
      },
    ]);
  });

  it('the nodes are hypervisors', async () => {
    await eventually(
      async () => expect((JSON.parse((await cli('hypervisor', 'list', '--json')).out) as unknown[]).length).toBe(2),
      15_000,
      300,
    );
  });

  it('boot: the scheduler picks the node equal to the flavor, compute prepares it; bmctl shows the states', async () => {
    const r = await cli(
      'boot',
      'vm1',
      '--flavor',
      'bm.small',
      '--image',
      IMAGE,
      '--wait-for',
      'prepared',
      '--timeout',
      '30',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ name: 'vm1', task_state: 'prepared', node: uuids[0], host: HOST });
    expect(r.err).toMatch(new RegExp(`node ${uuids[0]} on ${HOST}: (building|prepared)`));
    // Not a terminal: plain lines, each with the seconds since the boot began.
    expect(r.err).toMatch(/^\[ +\d+\.\d s\] instance [0-9a-f-]{36} \(vm1\): requested$/m);
    expect(r.err).not.toContain('\x1b');
    expect(bmcs[0].machine.isPoweredOn()).toBe(true);
    // On its virtual BMC: boot device PXE, then power on; its pxelinux config is in the TFTP root.
    expect(
      bmcs[0].machine.events.map((e) => (e.op === 'boot' ? `boot ${e.boot!.device}` : `power ${e.action}`)),
    ).toEqual(['boot pxe', 'power on']);
    expect(await readFile(join(work, 'tftpboot', 'pxelinux.cfg', '01-52-54-00-d0-00-01'), 'utf8')).toMatch(
      /deployment_key=[A-Z0-9]{32}/,
    );
    // The images by id: the image's kernel/ramdisk, the flavor's deploy pair; its id in image_path.
    const [{ instance_uuid: vm1, image_path }] = await ds.query(
      'SELECT instance_uuid, image_path FROM bm_nodes WHERE uuid = $1',
      [uuids[0]],
    );
    expect(image_path).toBe(images.ids.image);
    for (const k of ['kernel', 'deploy_ramdisk'])
      expect(await readFile(join(work, 'tftpboot', vm1, k), 'utf8')).toBe(`bytes of ${k}`);
    await deployDone(uuids[0]);
    await eventually(
      async () =>
        expect(JSON.parse((await cli('instance', 'list', '--json')).out)).toMatchObject([
          { Name: 'vm1', State: 'active', Node: uuids[0] },
        ]),
      10_000,
      300,
    );
    expect((await cli('instance', 'show', 'vm1')).out).toMatch(/task_state\s+│ active/);
  }, 40_000);

  it('boot with no node left for the flavor: NoValidHost, exit 1; an unknown flavor: FlavorNotFound', async () => {
    const r = await cli(
      'boot',
      '--name',
      'vm2',
      '--flavor',
      'bm.small',
      '--image',
      images.ids.image,
      '--timeout',
      '20',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/NoValidHost: No valid host was found\. 0 of 2 nodes fit flavor bm\.small/);
    const f = await cli('boot', 'vm3', '--flavor', 'nope', '--image', IMAGE);
    expect([f.code, f.err.trim()]).toEqual([1, 'bmctl: FlavorNotFound: Flavor nope could not be found.']);
    const unnamed = await cli('boot', '--flavor', 'bm.small', '--image', IMAGE);
    expect([unnamed.code, unnamed.err.trim()]).toEqual([
      64,
      'bmctl: an instance name is needed: bmctl boot NAME, or --name NAME',
    ]);
    // --image takes an id or a name, never a path; the image must name its kernel and ramdisk.
    const path = await cli('boot', 'vm4', '--flavor', 'bm.small', '--image', '/srv/images');
    expect([path.code, path.err.trim()]).toEqual([
      1,
      'bmctl: GlanceRequestFailed: no image with id or name "/srv/images"',
    ]);
    const bare = await cli('boot', 'vm4', '--flavor', 'bm.small', '--image', 'test-kernel');
    expect([bare.code, bare.err.trim()]).toEqual([
      1,
      `bmctl: image ${images.ids.kernel} (test-kernel) has no kernel_id or ramdisk_id property: ` +
        'set them to the ids of its kernel and ramdisk (bmctl image create … --property kernel_id=ID)',
    ]);
  }, 30_000);

  it('rebuild: the image deployed again on its node, followed with progress lines; --no-wait returns at once', async () => {
    const m = bmcs[0].machine;
    const before = m.events.length;
    const rebuild = running(['rebuild', 'vm1', '--flavor', 'bm.small', '--timeout', '120', '--json']);
    const label = '^\\[ +\\d+\\.\\d s\\] instance [0-9a-f-]{36} \\(vm1\\)';
    // bmctl itself reports the node prepared (the state lasts until the deploy is done below).
    await eventually(() => expect(rebuild.err()).toMatch(new RegExp(`${label}: prepared$`, 'm')), 60_000, 200);
    // Compute set it to PXE-boot the deploy ramdisk again and powered it on.
    expect(
      m.events.slice(before).map((e) => (e.op === 'boot' ? `boot ${e.boot!.device}` : `power ${e.action}`)),
    ).toEqual(expect.arrayContaining(['boot pxe', 'power on']));
    await deployDone(uuids[0]);
    const r = await rebuild.done;
    expect([r.code, r.err]).toEqual([0, expect.any(String)]);
    expect(JSON.parse(r.out)).toMatchObject({ name: 'vm1', task_state: 'active', node: uuids[0], host: HOST });
    expect(r.err).toMatch(new RegExp(`${label}: rebuild on node ${uuids[0]} on ${HOST}$`, 'm'));
    expect(r.err).toMatch(new RegExp(`${label}: active$`, 'm'));
    expect(r.err).not.toContain('\x1b');

    const quick = await cli('rebuild', 'vm1', '--no-wait', '--flavor', 'bm.small', '--image', IMAGE, '--json');
    expect(quick.code).toBe(0);
    expect(JSON.parse(quick.out)).toMatchObject({ name: 'vm1', task_state: 'active' });
    expect(quick.err).toMatch(new RegExp(`${label}: rebuild requested on node ${uuids[0]}$`, 'm'));
    await eventually(async () => expect(await nodeState(uuids[0])).toBe('prepared'), 60_000, 200);
    const busy = await cli('rebuild', 'vm1');
    expect([busy.code, busy.err.trim()]).toEqual([
      1,
      expect.stringMatching(/^bmctl: instance [0-9a-f-]{36} is prepared: only an active instance can be rebuilt$/),
    ]);
    await deployDone(uuids[0]);
    await eventually(async () => expect(await nodeState(uuids[0])).toBe('active'), 20_000, 200);
  }, 240_000);

  it('reboot, power-off, power-on, delete', async () => {
    const m = bmcs[0].machine;
    expect((await cli('reboot', 'vm1')).code).toBe(0);
    expect(m.events.slice(-3).map((e) => (e.op === 'boot' ? 'boot' : e.action))).toEqual(['off', 'boot', 'on']);
    expect((await cli('power-off', 'vm1')).code).toBe(0);
    expect(m.isPoweredOn()).toBe(false);
    expect((await cli('power-on', 'vm1')).code).toBe(0);
    expect(m.isPoweredOn()).toBe(true);
    const d = await cli('delete', 'vm1');
    expect([d.code, d.out.trim()]).toEqual([
      0,
      expect.stringMatching(/^delete: instance [0-9a-f-]{36} \(vm1\) on node .*: done$/),
    ]);
    expect(d.err).toMatch(/^\[ +\d+\.\d s\] delete: instance [0-9a-f-]{36} \(vm1\) on node .*: requested$/m);
    expect(d.err).toMatch(/^\[ +\d+\.\d s\] delete: instance [0-9a-f-]{36} \(vm1\) on node .*: done$/m);
    expect(m.isPoweredOn()).toBe(false);
    expect(JSON.parse((await cli('instance', 'list', '--json')).out)).toEqual([]);
    const gone = await cli('reboot', 'vm1');
    expect([gone.code, gone.err.trim()]).toEqual([1, 'bmctl: InstanceNotFound: Instance vm1 could not be found.']);
  }, 40_000);
});
