import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { TEST_AMQP_URL, eventually, privateVhost, uniqueName } from '../../../test/support/amqp';
import { ROOT, bmctl, requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ImagesService, startImages } from '../../../test/support/images';
import { Netns, testNamespaces } from '../../../test/support/netns';
import { runPythonJson } from '../../../test/support/python';
import {
  type ServiceProcess,
  type ServiceSite,
  serviceEnv,
  siteEnv,
  startService,
} from '../../../test/support/service';
import { type LabNodesProcess, startLabNodes } from './lab-nodes-process';

// The fleet of simulated nodes (apps/lab-nodes, built) against the built services, on the real
// broker and database: eight nodes in one lab-nodes process, each a virtual BMC whose machine
// PXE-boots (DHCP, TFTP) from netboot, plays the seed's deploy ramdisk (its disk file exported by
// the fleet's tgtd, the callback POSTed from its own address, `done` awaited on its :10000) and
// then PXE-boots the instance, checking root=UUID= against its disk.
//
//   five nodes (512 MB): five `bmctl boot`s at once → all active, the image on each disk, each
//     node's second PXE round on the `boot` label with its root's UUID; then deleted → free;
//   one node (768 MB, its own flavor) gets an image whose data was changed in the images
//     service's data_dir after upload: the deploy fails at `write` (the checksum), the node is
//     cleaned and released;
//   one node (1024 MB, its own flavor) never calls back: compute's deadline
//     (BM_PXE_DEPLOY_TIMEOUT) passes, the node is powered off, cleaned and released;
//   one node (1536 MB, its own flavor) is booted by a real Python oslo.messaging client (Debian's
//     python3-oslo.messaging) that calls compute and casts run_instance to the scheduler as Nova's
//     API did: the request as a real Nova sends it reaches the node the same way; then deleted.
//
// Networking: namespace `srv` holds the boot network (bridge br0 10.83.0.1/24) with netboot and
// the deploy helper; namespace `fleet` is the fleet, its eth0 a veth into br0, the node addresses
// added there as DHCP gives them out. The BMCs listen on the fleet's 127.0.0.1, so the power
// service runs in the fleet's namespace. The database, the broker and the images service are
// relayed into the namespaces. Nothing touches the host's interfaces.
const run = promisify(execFile);
const HOST = 'cn-fleet';
const PASSWORD = 'bmc-Fleet-5';
const SERVER_IP = '10.83.0.1';
const MIB = 1024 * 1024;
const MARKER = 'nova-bm fleet e2e marker\n';
/** Seconds compute waits for a ramdisk's callback, and then for the deploy. */
const DEPLOY_TIMEOUT_S = 20;
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
/** The oslo.messaging peer scripts' shared set-up (common.py), imported by the Python client below. */
const OSLO_PEERS = join(ROOT, 'test/peers/oslo');

interface FleetNode {
  name: string;
  mac: string;
  memory: number;
  flavor: string;
  callback: 'always' | 'never';
}
const mac = (i: number) => `52:54:00:83:00:${(i + 1).toString(16).padStart(2, '0')}`;
const NORMAL: FleetNode[] = [0, 1, 2, 3, 4].map((i) => ({
  name: `sim${i + 1}`,
  mac: mac(i),
  memory: 512,
  flavor: 'fleet.small',
  callback: 'always',
}));
const CORRUPT: FleetNode = {
  name: 'sim-corrupt',
  mac: mac(5),
  memory: 768,
  flavor: 'fleet.corrupt',
  callback: 'always',
};
const SILENT: FleetNode = { name: 'sim-silent', mac: mac(6), memory: 1024, flavor: 'fleet.silent', callback: 'never' };
const OSLO: FleetNode = { name: 'sim-oslo', mac: mac(7), memory: 1536, flavor: 'fleet.oslo', callback: 'always' };
const NODES = [...NORMAL, CORRUPT, SILENT, OSLO];

jest.setTimeout(240_000);

const tail = (text: string, lines = 30) => text.split('\n').slice(-lines).join('\n');

/**
 * Nova's API booting one instance, with the real oslo.messaging (/usr/bin/python3, Debian's
 * python3-oslo.messaging). Everything comes on stdin as JSON (the transport URL too, so no
 * credentials on a command line): the transport URL, the control exchange, the compute host,
 * the flavor as request_spec.instance_type carries it, the image dict, the instance name. It
 * calls compute's get_available_nodes (a round trip: a wrong URL or exchange ends in
 * MessagingTimeout, not a hang), then generates the instance uuid and casts the scheduler's
 * run_instance with what Nova's compute API (Icehouse) cast: the request_spec bmctl boot builds
 * (apps/cli/src/use-cases/boot-instance.ts) and Nova's other arguments. The versions are the
 * ones a client pins: the scheduler's 4.0 and compute's 6.0, not read from our contracts, so that
 * a change of what the services serve fails here as it would fail a real client. Prints one JSON
 * line: {"nodes": [...], "instance": uuid}.
 */
const OSLO_BOOT = `
import json
import sys
import uuid

import oslo_messaging

import common

a = json.load(sys.stdin)
# cfg.CONF with no config files, and oslo_messaging.set_transport_defaults(control_exchange=...)
# as Nova's rpc.init sets its control_exchange.
conf = common.setup(a['exchange'])
transport = oslo_messaging.get_rpc_transport(conf, url=a['url'])
ctxt = {'user_id': 'fleet-e2e', 'project_id': 'fleet-e2e', 'is_admin': True,
        'request_id': 'req-' + str(uuid.uuid4())}
try:
    compute = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic='compute', server=a['host'], version='6.0'),
        timeout=a['timeout'])
    nodes = compute.call(ctxt, 'get_available_nodes')

    instance = str(uuid.uuid4())
    flavor, image, name = a['flavor'], a['image'], a['name']
    scheduler = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic='scheduler', version='4.0'))
    scheduler.cast(
        ctxt, 'run_instance',
        request_spec={
            'instance_properties': {
                'uuid': instance, 'hostname': name, 'display_name': name,
                'memory_mb': flavor['memory_mb'], 'vcpus': flavor['vcpus'],
                'root_gb': flavor['root_gb'], 'image_ref': image['id'],
            },
            'instance_type': flavor,
            'image': image,
            'instance_uuids': [instance],
            'num_instances': 1,
        },
        admin_password=None, injected_files=[], requested_networks=None, is_first_time=True,
        filter_properties={}, legacy_bdm_in_spec=False)
    common.emit({'nodes': nodes, 'instance': instance})
finally:
    transport.cleanup()
`;

/** Runs OSLO_BOOT with `input` on its stdin; killed after `timeoutMs`, its output in the error. */
const osloBoot = (input: Record<string, unknown>, timeoutMs: number) =>
  runPythonJson<{ nodes: string[]; instance: string }>(['-c', OSLO_BOOT], input, {
    timeoutMs,
    label: 'the Python oslo client',
    env: { PYTHONPATH: OSLO_PEERS },
  });

describe('lab-nodes: a fleet of simulated nodes deployed by the real services', () => {
  let vhost: { transportUrl: string; drop(): Promise<void> };
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let srv: Netns;
  let fleetNs: Netns;
  let images: ImagesService;
  let fleet: LabNodesProcess;
  let env: Record<string, string>;
  let site: ServiceSite;
  let tgtdControlPort: number | undefined;
  const services: [string, ServiceProcess][] = [];
  const cli = (...args: string[]) => bmctl(args, env);
  const tftpRoot = () => join(work, 'tftpboot');
  const diskFile = (n: FleetNode) => join(work, 'disks', `${n.name}.img`);
  const files: Record<string, Buffer> = {};
  /** Instance uuid of each node's boot, by node name. */
  const instances: Record<string, string> = {};
  const nodeIds: Record<string, number> = {};
  /** What every process said: a failed step's message carries it. */
  const logs = (...nodes: FleetNode[]) =>
    [
      ...services.map(([name, p]) => `--- ${name}\n${tail(p.output())}`),
      `--- lab-nodes\n${tail(fleet?.other() ?? '')}`,
      ...nodes.map((n) => `--- ${n.name}\n${tail(fleet?.log(n.name) ?? '')}`),
    ]
      .join('\n')
      .replace(ANSI_COLOUR, '');
  const rowOf = async (n: FleetNode) =>
    (
      await ds.query('SELECT id, task_state, instance_uuid, image_path, deploy_key FROM bm_nodes WHERE id = $1', [
        nodeIds[n.name],
      ])
    )[0] as {
      id: number;
      task_state: string | null;
      instance_uuid: string | null;
      image_path: string | null;
      deploy_key: string | null;
    };
  const timeline = async (n: FleetNode) =>
    JSON.parse((await cli('node', 'timeline', String(nodeIds[n.name]), '--json')).out) as Array<{
      source: string;
      kind: string;
      detail: string;
      instance_uuid?: string | null;
    }>;
  const lastPhase = (n: FleetNode) => fleet.phases(n.name).at(-1);
  const createImage = async (name: string, disk: string, container: string, file: string, ...more: string[]) => {
    const made = await cli(
      'image',
      'create',
      name,
      '--disk-format',
      disk,
      '--container-format',
      container,
      '--file',
      file,
      ...more,
      '--json',
    );
    expect([made.code, made.err]).toEqual([0, expect.any(String)]);
    return (JSON.parse(made.out) as { id: string }).id;
  };
  const boot = (n: FleetNode, image: string) =>
    cli('boot', `vm-${n.name}`, '--flavor', n.flavor, '--image', image, '--timeout', '150', '--json');

  beforeAll(async () => {
    for (const app of ['lab-nodes', 'power', 'netboot', 'deploy-helper', 'compute', 'scheduler', 'images', 'cli'])
      requireBuilt(app);
    work = await mkdtemp(join(tmpdir(), 'bm-fleet-'));
    db = await createNovaBmDatabase('bm_fleet');
    ds = db.ds;
    vhost = await privateVhost('fleet');
    site = { databaseUrl: db.url, exchange: uniqueName('fleet'), host: HOST };
    images = await startImages(site, join(work, 'images'));
    const transport = { TRANSPORT_URL: vhost.transportUrl };
    env = { ...siteEnv(site), ...images.env, ...transport };

    // The boot network and the fleet on it.
    srv = Netns.create('fleet-srv');
    fleetNs = Netns.create('fleet-nodes');
    srv.ip('link', 'add', 'br0', 'type', 'bridge');
    srv.addAddress('br0', `${SERVER_IP}/24`, true);
    srv.veth('vfleet', fleetNs, 'eth0');
    srv.ip('link', 'set', 'vfleet', 'master', 'br0');
    srv.ip('link', 'set', 'vfleet', 'up');
    const ports = [Number(new URL(db.url).port || 5432), Number(new URL(TEST_AMQP_URL).port || 5672)];
    for (const port of ports) {
      await srv.forwardHostPort(port);
      await fleetNs.forwardHostPort(port);
    }
    await srv.forwardHostPort(images.port);

    // The fleet: eight nodes, their BMCs on free ports of the fleet's 127.0.0.1, 3 GiB sparse disks.
    await mkdir(join(work, 'disks'));
    await writeFile(join(work, 'bmc-password'), `${PASSWORD}\n`, { mode: 0o600 });
    await writeFile(
      join(work, 'nodes.csv'),
      'name,mac,bmc_port,bmc_password_file,disk_file,disk_size,callback\n' +
        NODES.map((n) => `${n.name},${n.mac},0,bmc-password,disks/${n.name}.img,3G,${n.callback}`).join('\n') +
        '\n',
    );
    fleet = startLabNodes(fleetNs, [
      '--nodes',
      join(work, 'nodes.csv'),
      '--interface',
      'eth0',
      '--status-file',
      join(work, 'status.json'),
      '--status-interval',
      '200',
    ]);
    const ready = await fleet.ready;
    tgtdControlPort = ready.tgtd.controlPort;
    expect(ready.nodes.map((n) => n.mac)).toEqual(NODES.map((n) => n.mac));
    for (const n of NODES) expect(existsSync(diskFile(n))).toBe(true);

    // Enrolled the operator's way: local_gb 2 as the flavors (ExactDiskFilter), each shape its own flavor.
    await writeFile(
      join(work, 'baremetal.csv'),
      'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port\n' +
        NODES.map((n, i) => `${n.mac},admin,${PASSWORD},${ready.nodes[i].bmc},1,${n.memory},2,x86_64,,`).join('\n') +
        '\n',
    );
    const imported = await cli('node', 'import', join(work, 'baremetal.csv'));
    expect([imported.code, imported.err]).toEqual([0, '']);
    for (const row of (await ds.query(
      `SELECT n.id, i.address FROM bm_nodes n JOIN bm_interfaces i ON i.bm_node_id = n.id WHERE n.deleted = false`,
    )) as { id: number; address: string }[])
      nodeIds[NODES.find((n) => n.mac === row.address)!.name] = row.id;

    // pxelinux.0 as an operator installs it in tftp_root (any bytes do: the node checks its size).
    await mkdir(tftpRoot(), { recursive: true });
    files['pxelinux.0'] = randomBytes(42_137);
    await writeFile(join(tftpRoot(), 'pxelinux.0'), files['pxelinux.0']);

    const svc = async (app: string, extra: Record<string, string>, ns?: Netns, ready = 'rpc=') => {
      const p = startService(app, await serviceEnv(site, { ...images.env, ...transport, ...extra }), ns);
      services.push([app, p]);
      await p.waitFor(ready, 30_000);
    };
    await svc('power', {}, fleetNs);
    await svc(
      'netboot',
      {
        BM_MY_IP: SERVER_IP,
        BM_PXE_INTERFACE: 'br0',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.83.0.50,10.83.0.99',
        BM_TFTP_ENABLED: 'true',
        BM_TFTP_ROOT: tftpRoot(),
      },
      srv,
    );
    await svc(
      'deploy-helper',
      { BM_ISCSI_ATTACHER: 'userspace', BM_MY_IP: SERVER_IP, BM_DEPLOY_WORKERS: '3' },
      srv,
      'consuming',
    );
    await svc('compute', { BM_PXE_DEPLOY_TIMEOUT: String(DEPLOY_TIMEOUT_S) });
    await eventually(
      async () =>
        expect(Number((await ds.query('SELECT count(*) AS n FROM compute_nodes WHERE deleted = false'))[0].n)).toBe(
          NODES.length,
        ),
      20_000,
      200,
    );
    await svc('scheduler', {});
  }, 120_000);

  afterAll(async () => {
    const code = await fleet?.stop();
    for (const [, s] of services.reverse()) await s.stop();
    await srv?.destroy();
    await fleetNs?.destroy();
    await images?.stop();
    await db?.drop();
    await vhost?.drop();
    if (work) await rm(work, { recursive: true, force: true });
    expect(testNamespaces().filter((n) => n === srv?.name || n === fleetNs?.name)).toEqual([]);
    expect(code).toBe(0);
    // tgtd's control socket files (shared by every namespace) went with it.
    for (const f of ['', '.lock'])
      if (tgtdControlPort) expect(existsSync(`/var/run/tgtd/socket.${tgtdControlPort}${f}`)).toBe(false);
  });

  it('deploys five nodes at once, fails a corrupt image and a silent ramdisk; the nodes boot what was written', async () => {
    // The images, as an operator uploads them (the boot files big enough for many TFTP blocks).
    const dir = join(work, 'files');
    await mkdir(join(dir, 'root'), { recursive: true });
    for (const [f, size] of [
      ['deploy-kernel', 300_011],
      ['deploy-ramdisk', 1_200_007],
      ['kernel', 200_003],
      ['ramdisk', 400_009],
    ] as const) {
      files[f] = randomBytes(size);
      await writeFile(join(dir, f), files[f]);
    }
    await writeFile(join(dir, 'root', 'marker'), MARKER);
    await run('mkfs.ext4', ['-q', '-F', '-d', join(dir, 'root'), '-L', 'root', join(dir, 'root.img'), '24M']);
    const deployKernel = await createImage('fleet-deploy-kernel', 'aki', 'aki', join(dir, 'deploy-kernel'));
    const deployRamdisk = await createImage('fleet-deploy-ramdisk', 'ari', 'ari', join(dir, 'deploy-ramdisk'));
    const kernel = await createImage('fleet-kernel', 'aki', 'aki', join(dir, 'kernel'));
    const ramdisk = await createImage('fleet-ramdisk', 'ari', 'ari', join(dir, 'ramdisk'));
    const props = ['--property', `kernel_id=${kernel}`, '--property', `ramdisk_id=${ramdisk}`];
    const image = await createImage('fleet-image', 'raw', 'bare', join(dir, 'root.img'), ...props);
    const corrupt = await createImage('fleet-corrupt', 'raw', 'bare', join(dir, 'root.img'), ...props);
    // The corrupt image: its data changed behind the images service's back (same size).
    const data = await open(join(work, 'images', corrupt), 'r+');
    await data.write(Buffer.from('not what was uploaded'), 0, undefined, 5 * MIB);
    await data.close();
    for (const n of [NORMAL[0], CORRUPT, SILENT, OSLO]) {
      const flavor = await cli(
        'flavor',
        'create',
        n.flavor,
        '--vcpus',
        '1',
        '--ram',
        String(n.memory),
        '--disk',
        '1',
        '--ephemeral',
        '1',
        '--extra-spec',
        'cpu_arch=x86_64',
        '--extra-spec',
        `baremetal:deploy_kernel_id=${deployKernel}`,
        '--extra-spec',
        `baremetal:deploy_ramdisk_id=${deployRamdisk}`,
      );
      expect([flavor.code, flavor.err]).toEqual([0, '']);
    }
    const hypervisors = await cli('hypervisor', 'list', '--json');
    expect(hypervisors.code).toBe(0);
    expect(JSON.parse(hypervisors.out)).toHaveLength(NODES.length);

    // Seven boots at once.
    const started = Date.now();
    const boots = await Promise.all([
      ...NORMAL.map((n) => boot(n, 'fleet-image')),
      boot(CORRUPT, 'fleet-corrupt'),
      boot(SILENT, 'fleet-image'),
    ]);
    const took = Date.now() - started;
    // Each of the five 512 MB nodes took one of the five boots (the scheduler chose which).
    NORMAL.forEach((_, i) => {
      if (boots[i].code !== 0) throw new Error(`bmctl boot ${i + 1}: ${boots[i].err}\n${logs(...NORMAL)}`);
      const made = JSON.parse(boots[i].out) as { instance: string; task_state: string; node_id: number };
      expect(made.task_state).toBe('active');
      const n = NORMAL.find((m) => nodeIds[m.name] === made.node_id)!;
      expect(n).toBeDefined();
      instances[n.name] = made.instance;
    });
    expect(Object.keys(instances).sort()).toEqual(NORMAL.map((n) => n.name));
    // The two failures: NoValidHost once compute's reschedule finds no other node of their shape.
    for (const [n, r] of [
      [CORRUPT, boots[5]],
      [SILENT, boots[6]],
    ] as const)
      expect([n.name, r.code === 0, r.err]).toEqual([n.name, false, expect.stringContaining('NoValidHost')]);
    process.stdout.write(`fleet: 7 boots in ${(took / 1000).toFixed(1)} s\n`);

    for (const n of NORMAL) {
      const instance = instances[n.name];
      expect(await rowOf(n)).toMatchObject({
        task_state: 'active',
        instance_uuid: instance,
        image_path: image,
        deploy_key: null,
      });
      // The PXE config: default boot, root=UUID= of the filesystem now on the disk.
      const config = await readFile(join(tftpRoot(), instance, 'config'), 'utf8');
      expect(config).toMatch(/^default boot\n/);
      const rootUuid = /root=UUID=(\S+)/.exec(config)?.[1];

      // The node: a whole deploy, then its second PXE round booted the instance with that root.
      await eventually(() => expect(lastPhase(n)?.phase).toBe('booted-instance'), 20_000, 100).catch(() => {
        throw new Error(`${n.name} did not boot its instance:\n${logs(n)}`);
      });
      const last = lastPhase(n)!;
      expect(fleet.phases(n.name).map((p) => p.phase)).toEqual([
        'dhcp',
        'tftp',
        'deploy-wait',
        'exporting',
        'callback',
        'waiting-done',
        'rebooting',
        'dhcp',
        'tftp',
        'booted-instance',
      ]);
      expect(last).toMatchObject({
        power: 'on',
        boots: 2,
        address: expect.stringMatching(/^10\.83\.0\.(5\d|[6-9]\d)$/),
        deploy: {
          nodeId: nodeIds[n.name],
          iqn: `iqn-${instance}`,
          bootServer: SERVER_IP,
          bootif: `01-${n.mac.replace(/:/g, '-')}`,
        },
        callback: { status: 200, body: '' },
        done: 'done',
        instance: { rootUuid, partition: 3, from: 'pxe' },
      });
      // Every file, whole: the boot file, the config (twice), the deploy pair, then the instance's pair.
      const inst = join(tftpRoot(), instance);
      expect(last.files.map((f) => [f.boot, f.name, f.bytes])).toEqual([
        [1, 'pxelinux.0', files['pxelinux.0'].length],
        [1, `pxelinux.cfg/01-${n.mac.replace(/:/g, '-')}`, expect.any(Number)],
        [1, join(inst, 'deploy_kernel'), files['deploy-kernel'].length],
        [1, join(inst, 'deploy_ramdisk'), files['deploy-ramdisk'].length],
        [2, 'pxelinux.0', files['pxelinux.0'].length],
        [2, `pxelinux.cfg/01-${n.mac.replace(/:/g, '-')}`, config.length],
        [2, join(inst, 'kernel'), files.kernel.length],
        [2, join(inst, 'ramdisk'), files.ramdisk.length],
      ]);
      expect(last.files.every((f) => f.tsize === f.bytes)).toBe(true);
      // Bytes: every TFTP byte of this power-on; what the deploy wrote to the disk file (the image at least).
      expect(last.bytes.tftp).toBe(last.files.reduce((sum, f) => sum + f.bytes, 0));
      expect(last.bytes.disk).toBeGreaterThan(24 * MIB);

      // The disk: Icehouse layout (ephemeral, swap, root), the image with its marker at root.
      const table = JSON.parse((await run('sfdisk', ['-J', diskFile(n)])).stdout) as {
        partitiontable: { partitions: Array<{ start: number; size: number }> };
      };
      const parts = table.partitiontable.partitions;
      expect(parts.map((p) => (p.size * 512) / MIB)).toEqual([1024, 1, 1024]);
      const at = parts[2].start * 512;
      expect((await run('blkid', ['-p', '-O', String(at), '-o', 'export', diskFile(n)])).stdout).toContain(
        `UUID=${rootUuid}`,
      );
      expect((await run('debugfs', ['-R', 'cat /marker', `${diskFile(n)}?offset=${at}`])).stdout).toBe(MARKER);

      const states = (await timeline(n)).filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`);
      expect(states).toEqual([
        'compute building (associate)',
        'compute prepared (prepared)',
        'deploy-helper deploying (deploy_started)',
        'deploy-helper deploy complete (deploy_done)',
        'compute active (activated)',
      ]);
    }

    // The corrupt image: the write step found it out; the node cleaned, powered off, released.
    const corruptEvents = await timeline(CORRUPT);
    expect(corruptEvents.find((e) => e.kind === 'deploy.step' && e.detail.startsWith('write failed'))?.detail).toMatch(
      /sha512|md5|checksum|digest/i,
    );
    expect(corruptEvents.filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`)).toEqual([
      'compute building (associate)',
      'compute prepared (prepared)',
      'deploy-helper deploying (deploy_started)',
      // each failure with its reason
      expect.stringMatching(
        /^deploy-helper deploy failed \(deploy_failed\): write: image verification failed: sha512 /,
      ),
      expect.stringMatching(/^compute error \(failed\): PXE deploy failed for instance /),
      'compute deleted (cleaned)',
    ]);
    // The silent ramdisk: no callback ever; compute's deadline passed, the node cleaned and released.
    const silentEvents = await timeline(SILENT);
    expect(silentEvents.some((e) => e.kind === 'deploy.callback')).toBe(false);
    expect(silentEvents.filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`)).toEqual([
      'compute building (associate)',
      'compute prepared (prepared)',
      // the timeline says why: compute's deadline
      expect.stringMatching(/^compute error \(failed\): Timeout reached while waiting for PXE deploy of instance /),
      'compute deleted (cleaned)',
    ]);
    const computeLog = services.find(([name]) => name === 'compute')![1].output();
    expect(computeLog).toMatch(/Timeout reached while waiting for PXE deploy of instance/);
    for (const n of [CORRUPT, SILENT]) {
      expect(await rowOf(n)).toMatchObject({ instance_uuid: null, deploy_key: null });
      await eventually(() => expect(lastPhase(n)).toMatchObject({ phase: 'off', power: 'off' }), 10_000, 100);
      expect(existsSync(join(tftpRoot(), 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`))).toBe(false);
    }
    expect(fleet.phases(CORRUPT.name).map((p) => p.phase)).toEqual([
      'dhcp',
      'tftp',
      'deploy-wait',
      'exporting',
      'callback',
      'waiting-done',
      'off',
    ]);
    expect(fleet.phases(SILENT.name).map((p) => p.phase)).toEqual(['dhcp', 'tftp', 'deploy-wait', 'off']);
  });

  it('deletes the five instances: the nodes off and free, their PXE files gone', async () => {
    const deleted = await Promise.all(NORMAL.map((n) => cli('delete', instances[n.name])));
    // Progress goes to stderr as plain lines (not a terminal), ending with the delete done.
    for (const r of deleted) {
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/^\[ *[0-9.]+ s\] delete: instance .*: done\n$/m);
    }
    for (const n of NORMAL) {
      expect(await rowOf(n)).toMatchObject({ instance_uuid: null, deploy_key: null });
      expect(existsSync(join(tftpRoot(), instances[n.name]))).toBe(false);
      expect(existsSync(join(tftpRoot(), 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`))).toBe(false);
      await eventually(() => expect(lastPhase(n)).toMatchObject({ phase: 'off', power: 'off' }), 10_000, 100);
      expect(lastPhase(n)).not.toHaveProperty('address');
    }
    const list = await cli('instance', 'list', '--json');
    expect(JSON.parse(list.out)).toEqual([]);

    // The status file (rewritten every 200 ms): every node off, each with its history.
    await eventually(
      async () => {
        const status = JSON.parse(await readFile(join(work, 'status.json'), 'utf8')) as {
          nodes: { name: string; phase: string; history: { phase: string }[] }[];
        };
        expect(status.nodes.map((n) => [n.name, n.phase])).toEqual(NODES.map((n) => [n.name, 'off']));
        expect(status.nodes[0].history.map((h) => h.phase)).toEqual([
          'off',
          ...fleet.phases(NODES[0].name).map((p) => p.phase),
        ]);
      },
      5_000,
      100,
    );
  });

  // Last, with every other node off: the fleet's interface has no address left then (the kernel
  // dropped its broadcast route with the last one), a boot lab-nodes must still get DHCP for.
  it('a real Python oslo.messaging client boots one through the scheduler and compute; then deleted', async () => {
    // What Nova's API would put in the request: the flavor as instance_type (its extra_specs with
    // the deploy pair), the image's id, name and kernel_id / ramdisk_id properties.
    const flavor = JSON.parse((await cli('flavor', 'show', OSLO.flavor, '--json')).out) as Record<string, unknown>;
    expect(flavor).toMatchObject({ memory_mb: OSLO.memory, extra_specs: { cpu_arch: 'x86_64' } });
    const shown = await cli('image', 'show', 'fleet-image', '--json');
    expect([shown.code, shown.err]).toEqual([0, '']);
    const img = JSON.parse(shown.out) as Record<string, unknown>;
    const image = {
      id: img.id,
      name: img.name,
      disk_format: img.disk_format,
      size: img.size,
      properties: { kernel_id: img.kernel_id, ramdisk_id: img.ramdisk_id },
    };
    expect(image.properties).toEqual({ kernel_id: expect.any(String), ramdisk_id: expect.any(String) });

    const started = Date.now();
    const py = await osloBoot(
      {
        url: vhost.transportUrl,
        exchange: site.exchange,
        host: HOST,
        timeout: 20,
        flavor,
        image,
        name: `vm-${OSLO.name}`,
      },
      60_000,
    );
    // compute answered the call: every node of the host, free or busy.
    const uuids = (await ds.query('SELECT uuid FROM bm_nodes WHERE deleted = false')) as { uuid: string }[];
    expect([...py.nodes].sort()).toEqual(uuids.map((u) => u.uuid).sort());
    const instance = py.instance;
    expect(instance).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    // The cast has no answer: the node's row says what became of it. Bounded, and failing at once
    // if the node is released again (a failed deploy): a cast the scheduler refused (a missing
    // argument: it only logs it) leaves the node unclaimed and fails after PLACED_MS, with the
    // scheduler's log, not at the test's timeout. (A wrong exchange already failed the call above.)
    const PLACED_MS = 30_000;
    const ACTIVE_MS = 150_000;
    let placed = false;
    for (;;) {
      const row = await rowOf(OSLO);
      if (row.instance_uuid === instance && row.task_state === 'active') break;
      const elapsed = Date.now() - started;
      if (row.instance_uuid === instance) placed = true;
      else if (placed)
        throw new Error(`${OSLO.name} released instance ${instance} (${row.task_state}):\n${logs(OSLO)}`);
      else if (elapsed > PLACED_MS)
        throw new Error(`instance ${instance} not on ${OSLO.name} after ${PLACED_MS} ms:\n${logs(OSLO)}`);
      if (elapsed > ACTIVE_MS)
        throw new Error(`instance ${instance} not active after ${ACTIVE_MS} ms (${row.task_state}):\n${logs(OSLO)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stdout.write(`fleet: the Python oslo boot active in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    expect(await rowOf(OSLO)).toMatchObject({
      task_state: 'active',
      instance_uuid: instance,
      image_path: image.id,
      deploy_key: null,
    });
    const shownInstance = await cli('instance', 'show', instance, '--json');
    expect(JSON.parse(shownInstance.out)).toMatchObject({
      name: `vm-${OSLO.name}`,
      host: HOST,
      node_id: nodeIds[OSLO.name],
      memory_mb: OSLO.memory,
    });

    // The node went through the whole deploy and booted the instance, as the bmctl-booted ones.
    await eventually(() => expect(lastPhase(OSLO)?.phase).toBe('booted-instance'), 20_000, 100).catch(() => {
      throw new Error(`${OSLO.name} did not boot its instance:\n${logs(OSLO)}`);
    });
    expect(fleet.phases(OSLO.name).map((p) => p.phase)).toEqual([
      'dhcp',
      'tftp',
      'deploy-wait',
      'exporting',
      'callback',
      'waiting-done',
      'rebooting',
      'dhcp',
      'tftp',
      'booted-instance',
    ]);
    expect(lastPhase(OSLO)).toMatchObject({
      power: 'on',
      boots: 2,
      deploy: { nodeId: nodeIds[OSLO.name], iqn: `iqn-${instance}`, bootServer: SERVER_IP },
      done: 'done',
      instance: { partition: 3, from: 'pxe' },
    });
    const states = (await timeline(OSLO)).filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`);
    expect(states).toEqual([
      'compute building (associate)',
      'compute prepared (prepared)',
      'deploy-helper deploying (deploy_started)',
      'deploy-helper deploy complete (deploy_done)',
      'compute active (activated)',
    ]);

    // Deleted as the others: the node off and free, its PXE files gone.
    const deleted = await cli('delete', instance);
    expect(deleted.code).toBe(0);
    expect(deleted.err).toMatch(/^\[ *[0-9.]+ s\] delete: instance .*: done\n$/m);
    expect(await rowOf(OSLO)).toMatchObject({ instance_uuid: null, deploy_key: null });
    expect(existsSync(join(tftpRoot(), instance))).toBe(false);
    expect(existsSync(join(tftpRoot(), 'pxelinux.cfg', `01-${OSLO.mac.replace(/:/g, '-')}`))).toBe(false);
    await eventually(() => expect(lastPhase(OSLO)).toMatchObject({ phase: 'off', power: 'off' }), 10_000, 100);
    expect(JSON.parse((await cli('instance', 'list', '--json')).out)).toEqual([]);
  }, 240_000);
});
