import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { IpmiClient, type SimulatedMachine, type VirtualBmc } from '@bm/ipmi';
import { eventually, uniqueName } from '../../../test/support/amqp';
import { type BmctlRun, bmctl } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { startVirtualBmc } from '../../../test/support/nodes';
import { testPasswordVault } from '../../../test/support/passwords';
import {
  type ServiceProcess,
  type ServiceSite,
  serviceEnv,
  siteEnv,
  startService,
} from '../../../test/support/service';

// The operator's node management with bmctl against the built services: power, boot device and
// validate go through the power and netboot services, which open each BMC (a virtual BMC of
// libs/ipmi on loopback) with the stored, sealed credentials; a BMC password is rotated with a
// file; maintenance takes a node away from the scheduler (select_destinations) and out of
// compute's resource report; node list filters, sorts and pages.
const HOST = 'cn-manage';
const PASSWORD = 'bmc-Manage-1';
const NEW_PASSWORD = 'bmc-Rotated-2';

/** Three nodes: 1 and 2 of one size (the flavor's), 3 bigger; node 3's BMC already has a new password. */
const NODES = [
  { mac: '52:54:00:e1:00:01', memory: 512 },
  { mac: '52:54:00:e1:00:02', memory: 512 },
  { mac: '52:54:00:e1:00:03', memory: 1024 },
];
const FLAVOR = { name: 'bm.small', vcpus: 1, memory_mb: 512, root_gb: 5, ephemeral_gb: 0, swap: 0, extra_specs: {} };

describe('bmctl node power, boot-device, set, maintenance, validate, list', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let images: TestImages;
  const services: ServiceProcess[] = [];
  const bmcs: { bmc: VirtualBmc; machine: SimulatedMachine }[] = [];
  const uuids: string[] = [];
  const exchange = uniqueName('manage');
  let env: Record<string, string>;
  const runs: BmctlRun[] = [];
  const cli = async (...args: string[]) => {
    const r = await bmctl(args, env);
    runs.push(r);
    return r;
  };
  const json = async <T>(...args: string[]): Promise<T> => {
    const r = await cli(...args, '-f', 'json');
    if (r.code !== 0) throw new Error(`bmctl ${args.join(' ')}: exit ${r.code}: ${r.err}`);
    return JSON.parse(r.out) as T;
  };
  /** select_destinations as Nova's 4.0 scheduler client sends it, through `bmctl rpc call`. */
  const select = (count: number) =>
    cli(
      'rpc',
      'call',
      '--topic',
      'scheduler',
      '--version',
      '4.0',
      'select_destinations',
      JSON.stringify({ request_spec: { instance_type: FLAVOR, num_instances: count }, filter_properties: {} }),
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'bmctl-manage-'));
    db = await createNovaBmDatabase('bm_cli_manage');
    ds = db.ds;
    const site: ServiceSite = { databaseUrl: db.url, exchange, host: HOST };
    images = await startTestImages(site, join(work, 'images'));
    // bmctl names the deploy pair as [baremetal] deploy_kernel / deploy_ramdisk (validate checks them).
    env = {
      ...siteEnv(site),
      ...images.env,
      BM_DEPLOY_KERNEL: images.ids.deploy_kernel,
      BM_DEPLOY_RAMDISK: images.ids.deploy_ramdisk,
    };
    const csv = ['mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port'];
    for (const [i, n] of NODES.entries()) {
      // Node 3's BMC was given a new password before bmctl was told.
      const { bmc, machine } = await startVirtualBmc(i === 2 ? NEW_PASSWORD : PASSWORD);
      bmcs.push({ bmc, machine });
      csv.push(`${n.mac},admin,${PASSWORD},127.0.0.1:${bmc.port},1,${n.memory},5,x86_64,,`);
    }
    await writeFile(join(work, 'baremetal.csv'), `${csv.join('\n')}\n`);
    expect((await cli('node', 'import', join(work, 'baremetal.csv'))).code).toBe(0);
    uuids.push(...((await ds.query(`SELECT uuid FROM bm_nodes ORDER BY id`)) as { uuid: string }[]).map((r) => r.uuid));
    await writeFile(join(work, 'new-password'), `${NEW_PASSWORD}\n`, { mode: 0o600 });

    const tftpRoot = join(work, 'tftpboot');
    await mkdir(tftpRoot);
    await writeFile(join(tftpRoot, 'pxelinux.0'), Buffer.alloc(4096, 1));
    const svc = async (app: string, extra: Record<string, string> = {}) => {
      const p = startService(app, await serviceEnv(site, { ...images.env, ...extra }));
      services.push(p);
      await p.waitFor('rpc=');
    };
    await svc('power', { BM_POWER_SYNC_INTERVAL: '1' });
    await svc('netboot', { BM_TFTP_ROOT: tftpRoot });
    await svc('compute');
    await eventually(
      async () =>
        expect(
          (await ds.query(`SELECT count(*)::int AS n FROM compute_nodes WHERE deleted = false`)) as unknown[],
        ).toEqual([{ n: 3 }]),
      20_000,
      200,
    );
    await svc('scheduler');
  }, 120_000);

  afterAll(async () => {
    for (const s of services) await s.stop();
    await images?.stop();
    for (const b of bmcs) await b.bmc.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
    // No command ever printed a BMC password, whatever it did.
    for (const r of runs) expect(r.out + r.err).not.toMatch(new RegExp(`${PASSWORD}|${NEW_PASSWORD}`));
  });

  it('power on, status, off: a row per node; a node that fails has its error and the exit status is 1', async () => {
    const on = await cli('node', 'power', 'on', '1', uuids[1], '-f', 'json');
    expect([on.code, JSON.parse(on.out)]).toEqual([
      0,
      [
        { Node: '1', UUID: uuids[0], 'Power State': 'on', Error: null },
        { Node: uuids[1], UUID: uuids[1], 'Power State': 'on', Error: null },
      ],
    ]);
    expect([bmcs[0].machine.isPoweredOn(), bmcs[1].machine.isPoweredOn()]).toEqual([true, true]);

    const status = await cli('node', 'power', 'status', '1', '2', '3', '99', '-f', 'json');
    expect(status.code).toBe(1);
    expect(status.err.trim()).toBe('bmctl: power status: 2 of 4 node(s) failed');
    const rows = JSON.parse(status.out) as { Node: string; 'Power State': string | null; Error: string | null }[];
    expect(rows.map((r) => [r.Node, r['Power State']])).toEqual([
      ['1', 'on'],
      ['2', 'on'],
      ['3', null],
      ['99', null],
    ]);
    expect(rows[2].Error).toMatch(/^BmcAuthenticationFailed: .*wrong password for user 'admin'/);
    expect(rows[3].Error).toBe('NodeNotFound: Node 99 could not be found.');

    const off = await cli('node', 'power', 'off', '2');
    expect(off.code).toBe(0);
    expect(off.out).toMatch(/│ 2 +│ [0-9a-f-]{36} │ off +│ +│/);
    expect(bmcs[1].machine.isPoweredOn()).toBe(false);
    expect((await cli('node', 'power', 'sideways', '1')).code).toBe(64);
  });

  it('boot-device set and show, read back from the BMC', async () => {
    const set = await json<Record<string, unknown>>(
      'node',
      'boot-device',
      'set',
      '1',
      '--device',
      'disk',
      '--persistent',
    );
    expect(set).toEqual({ node: uuids[0], boot_device: 'disk', persistent: true, efi: false });
    expect(bmcs[0].machine.getBootFlags()).toMatchObject({ device: 'disk', persistent: true, valid: true });
    expect(await json('node', 'boot-device', 'show', '1')).toEqual({
      node: uuids[0],
      boot_device: 'disk',
      persistent: true,
      efi: false,
      valid: true,
    });
    await json('node', 'boot-device', 'set', uuids[0], '--device', 'pxe', '--efi');
    expect(await json('node', 'boot-device', 'show', '1')).toMatchObject({
      boot_device: 'pxe',
      persistent: false,
      efi: true,
    });
    const bad = await cli('node', 'boot-device', 'set', '1', '--device', 'usb-stick');
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/Allowed choices are none, pxe, disk/);
  });

  it('set --pm-password-file rotates the BMC password: sealed in the database, and the BMC answers', async () => {
    const before = (await ds.query(`SELECT pm_password FROM bm_nodes WHERE id = 3`)) as { pm_password: string }[];
    expect(testPasswordVault().open(before[0].pm_password, 3)).toBe(PASSWORD);
    const r = await cli('node', 'set', '3', '--pm-password-file', join(work, 'new-password'), '-f', 'json');
    expect(r.code).toBe(0);
    expect(r.err.trim()).toBe('node 3: pm_password rotated');
    expect(JSON.parse(r.out)).toMatchObject({ id: 3, pm_password: '******' });
    const [after] = (await ds.query(`SELECT pm_password FROM bm_nodes WHERE id = 3`)) as { pm_password: string }[];
    expect(after.pm_password).toMatch(/^bmpw1:/);
    expect(after.pm_password).not.toContain(NEW_PASSWORD);
    expect(testPasswordVault().open(after.pm_password, 3)).toBe(NEW_PASSWORD);
    // The power service now opens the BMC with it; the old password is refused by the BMC.
    expect(await json('node', 'power', 'status', '3')).toEqual([
      { Node: '3', UUID: uuids[2], 'Power State': 'off', Error: null },
    ]);
    const old = new IpmiClient({ deadlineMs: 2000 });
    try {
      await expect(
        old.powerStatus({ host: '127.0.0.1', port: bmcs[2].bmc.port, user: 'admin', password: PASSWORD }),
      ).rejects.toThrow(/wrong password/);
    } finally {
      await old.close();
    }
    // A node's other fields, and what may not change.
    const arch = await cli('node', 'set', '3', '--cpu-arch', 'aarch64', '--terminal-port', '7003');
    expect([arch.code, arch.err.trim()]).toEqual([0, 'node 3: cpu_arch aarch64 (was x86_64), terminal_port 7003']);
    const unset = await cli('node', 'unset', '3', '--cpu-arch', '--terminal-port', '-f', 'json');
    expect(JSON.parse(unset.out)).toMatchObject({ cpu_arch: null, terminal_port: null });
    const bad = await cli('node', 'set', '3', '--cpus', '0');
    expect([bad.code, bad.err.trim()]).toEqual([
      1,
      'bmctl: InvalidParameterValue: Invalid node change: cpus: must be a positive integer',
    ]);
    expect((await cli('node', 'unset', '3')).code).toBe(64);
  });

  it('maintenance: the scheduler skips the node, compute reports it without resources, and back', async () => {
    // Nodes 1 and 2 fit the flavor: two instances fit.
    const two = await select(2);
    expect(two.code).toBe(0);
    expect((JSON.parse(two.out) as { nodename: string }[]).map((d) => d.nodename).sort()).toEqual(
      [uuids[0], uuids[1]].sort(),
    );
    // That consumed both in the scheduler's view until compute reports again: the change below does it.
    const on = await json<Record<string, unknown>[]>('node', 'maintenance', 'on', '1', '--reason', 'DIMM swap');
    expect(on).toEqual([
      { ID: 1, UUID: uuids[0], Maintenance: true, Reason: 'DIMM swap', Since: expect.stringMatching(/^20\d\d-/) },
    ]);
    await eventually(
      async () =>
        expect(
          await ds.query(
            `SELECT vcpus, memory_mb, local_gb FROM compute_nodes WHERE hypervisor_hostname = $1 AND deleted = false`,
            [uuids[0]],
          ),
        ).toEqual([{ vcpus: 0, memory_mb: 0, local_gb: 0 }]),
      15_000,
      200,
    );
    await eventually(
      async () => {
        const r = await select(2);
        expect(r.code).toBe(1);
        expect(r.err).toContain('MaintenanceFilter rejected 1');
      },
      15_000,
      500,
    );
    const one = await select(1);
    expect([one.code, (JSON.parse(one.out) as { nodename: string }[]).map((d) => d.nodename)]).toEqual([0, [uuids[1]]]);
    const timeline = await json<{ kind: string; detail: string }[]>('node', 'timeline', '1');
    expect(timeline.filter((e) => e.kind === 'node.maintenance').map((e) => e.detail)).toEqual([
      'maintenance on: DIMM swap',
    ]);

    const off = await json<Record<string, unknown>[]>('node', 'maintenance', 'off', uuids[0]);
    expect(off).toEqual([{ ID: 1, UUID: uuids[0], Maintenance: false, Reason: null, Since: null }]);
    await eventually(
      async () => {
        const r = await select(2);
        expect(r.code).toBe(0);
        expect((JSON.parse(r.out) as { nodename: string }[]).map((d) => d.nodename).sort()).toEqual(
          [uuids[0], uuids[1]].sort(),
        );
      },
      15_000,
      500,
    );
    const withReason = await cli('node', 'maintenance', 'off', '1', '--reason', 'done');
    expect([withReason.code, withReason.err.trim()]).toEqual([
      64,
      'bmctl: --reason goes with maintenance on (taking a node out clears it)',
    ]);
    expect((await cli('node', 'maintenance', 'on', '1', '404')).code).toBe(1);
    expect((await json<{ Maintenance: boolean }[]>('node', 'list', '--maintenance')).length).toBe(0);
  });

  it('validate: a line per check; a ready node passes, a broken one fails with its reasons', async () => {
    const ok = await cli('node', 'validate', '1', '-f', 'json');
    const rows = JSON.parse(ok.out) as { Check: string; Result: string; Reason: string }[];
    expect([ok.code, rows.map((r) => `${r.Check} ${r.Result}`)]).toEqual([
      0,
      [
        'fields pass',
        'macs pass',
        'bmc pass',
        'deploy-images pass',
        'tftp-root pass',
        'bootfile pass',
        'image-cache pass',
      ],
    ]);
    expect(rows[2].Reason).toMatch(/^power (on|off): BMC 127\.0\.0\.1:\d+ answered with the stored credentials$/);
    expect(rows[3].Reason).toContain(`${images.ids.deploy_kernel} active, ${images.ids.deploy_ramdisk} active`);

    // Node 2 stored with a password its BMC refuses; and without the deploy pair configured.
    await writeFile(join(work, 'wrong-password'), 'not-the-password\n', { mode: 0o600 });
    expect((await cli('node', 'set', '2', '--pm-password-file', join(work, 'wrong-password'))).code).toBe(0);
    const { BM_DEPLOY_KERNEL: _k, BM_DEPLOY_RAMDISK: _r, ...bare } = env;
    const bad = await bmctl(['node', 'validate', '2'], bare);
    runs.push(bad);
    expect(bad.code).toBe(1);
    expect(bad.err.trim()).toBe('bmctl: node 2: 2 of 7 checks failed');
    expect(bad.out).toMatch(
      /│ bmc +│ fail +│ BMC 127\.0\.0\.1:\d+ through the power service of host cn-manage: BmcAuthenticationFailed/,
    );
    expect(bad.out).toMatch(/│ deploy-images +│ fail +│ no deploy kernel and ramdisk: set \[baremetal\] deploy_kernel/);
    expect(bad.out).toMatch(/│ tftp-root +│ pass +│/);
    await writeFile(join(work, 'password'), PASSWORD, { mode: 0o600 });
    expect((await cli('node', 'set', '2', '--pm-password-file', join(work, 'password'))).code).toBe(0);
  });

  it('list: power state, maintenance and last error; filters, sort, paging, --long, -c', async () => {
    await json('node', 'maintenance', 'on', '3', '--reason', 'rack 4');
    // The power sync (every second here) has seen every node, and node 3's BMC again.
    await eventually(
      async () => {
        const all = await json<Record<string, unknown>[]>('node', 'list');
        expect(all.map((n) => [n.ID, n['Power State'], n.Maintenance, n['Last Error']])).toEqual([
          [1, 'on', false, null],
          [2, 'off', false, null],
          [3, 'off', true, null],
        ]);
      },
      15_000,
      500,
    );
    const ids = (rows: Record<string, unknown>[]) => rows.map((n) => n.ID);
    expect(ids(await json('node', 'list', '--maintenance'))).toEqual([3]);
    expect(ids(await json('node', 'list', '--no-maintenance'))).toEqual([1, 2]);
    expect(ids(await json('node', 'list', '--host', HOST, '--state', 'none', '--unassociated'))).toEqual([1, 2, 3]);
    expect(ids(await json('node', 'list', '--associated'))).toEqual([]);
    expect(ids(await json('node', 'list', '--host', 'elsewhere'))).toEqual([]);
    expect(ids(await json('node', 'list', '--sort', 'memory_mb:desc'))).toEqual([3, 2, 1]);
    const page1 = await json<Record<string, unknown>[]>('node', 'list', '--sort', 'id:desc', '--limit', '2');
    expect(ids(page1)).toEqual([3, 2]);
    expect(
      ids(await json('node', 'list', '--sort', 'id:desc', '--limit', '2', '--marker', String(page1[1].UUID))),
    ).toEqual([1]);
    const [long] = await json<Record<string, unknown>[]>('node', 'list', '--long', '--maintenance');
    expect(long).toMatchObject({
      'MAC Addresses': ['52:54:00:e1:00:03'],
      'PM Password': '******',
      'Maintenance Reason': 'rack 4',
      'Memory MB': 1024,
    });
    const value = await cli('node', 'list', '-c', 'ID', '-c', 'Power State', '-f', 'value');
    expect(value.out.trim().split('\n')).toEqual(['1 on', '2 off', '3 off']);
    const table = await cli('node', 'list');
    expect(table.out.split('\n')[1]).toMatch(
      /ID +│ UUID +│ Host +│ Instance UUID +│ Task State +│ Power State +│ Maintenance +│ Last Error/,
    );
    for (const [args, msg] of [
      [['--sort', 'pm_password'], /--sort.*must be KEY\[:asc\|desc\]/],
      [['--state', 'sleeping'], /--state.*must be one of none, active/],
      [['--marker', '00000000-0000-4000-8000-000000000000'], /marker: no live node has uuid/],
      [['--associated', '--unassociated'], /exclude each other/],
    ] as const) {
      const r = await cli('node', 'list', ...args);
      expect([r.code === 0, r.err]).toEqual([false, expect.stringMatching(msg)]);
    }
  });
});
