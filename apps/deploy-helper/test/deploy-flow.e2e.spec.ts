import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import type { SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { bmctl, requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ScriptedRamdisk, startScriptedRamdisk } from '../../../test/support/deploy-ramdisk';
import { type ImagesService, startImages } from '../../../test/support/images';
import { Netns, testNamespaces } from '../../../test/support/netns';
import { startVirtualBmc } from '../../../test/support/nodes';
import {
  type ServiceProcess,
  type ServiceSite,
  serviceEnv,
  siteEnv,
  startService,
} from '../../../test/support/service';

// The seed's whole deploy through the built services, on the real broker and database:
//
//   bmctl image create ×5 (deploy kernel + ramdisk, the instance's kernel + ramdisk, and the
//   instance image: an ext4 filesystem with a marker, its kernel_id / ramdisk_id set), a flavor
//   whose extra specs name the deploy pair, bmctl boot → scheduler → compute → netboot (images
//   by id into its cache, pxelinux config) + power (IPMI to a virtual BMC) → prepared;
//   the node's "firmware", in its own network namespace with the enrolled MAC: DHCP from our
//   netboot (busybox udhcpc), TFTP of pxelinux.cfg/01-<mac> and the deploy kernel and ramdisk it
//   names (curl); the "deploy ramdisk" (test/support/deploy-ramdisk: busybox sh, tgtd exporting
//   the node's disk file, wget --post-data to port 10000, nc -l -p 10000);
//   the deploy helper's worker: userspace iSCSI login, Icehouse partitions, the image streamed
//   from the images service and verified, mkswap, mkfs of the ephemeral partition, root UUID,
//   netboot activate_boot, `done` to the ramdisk, deploy complete → compute → active.
//
// Networking: namespace `srv` holds the boot network (bridge br0 10.79.0.1/24) with netboot (DHCP
// + TFTP) and the deploy helper in it (the database, broker and images service relayed in);
// namespace `node` is the node, its eth0 a veth into br0. Nothing touches the host's interfaces.
const run = promisify(execFile);
const HOST = 'cn-deploy-flow';
const PASSWORD = 'bmc-Flow-9';
const MAC = '52:54:00:79:00:01';
const SERVER_IP = '10.79.0.1';
const MIB = 1024 * 1024;
const MARKER = 'nova-bm deploy e2e marker\n';

jest.setTimeout(240_000);

/** pxelinux.cfg's deploy label as the ramdisk sees it (its kernel command line). */
/** Nest's colour codes (ESC [ … m), taken out of the logs a failure message carries. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The last lines of a log, for a failure message. */
const tail = (text: string, lines = 40) => text.split('\n').slice(-lines).join('\n');

function deployParams(config: string) {
  const get = (key: string) => {
    const m = new RegExp(`\\b${key}=(\\S+)`).exec(config);
    if (!m) throw new Error(`no ${key}= in the PXE config:\n${config}`);
    return m[1];
  };
  return { nodeId: Number(get('deployment_id')), key: get('deployment_key'), iqn: get('iscsi_target_iqn') };
}

describe('deploy: bmctl boot → prepared → the ramdisk calls back → active, the image on the disk', () => {
  const namespacesBefore = testNamespaces();
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let srv: Netns;
  let node: Netns;
  let images: ImagesService;
  let bmc: { bmc: VirtualBmc; machine: SimulatedMachine };
  let ramdisk: ScriptedRamdisk | undefined;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  const cli = (...args: string[]) => bmctl(args, env);
  const tftpRoot = () => join(work, 'tftpboot');
  /** What every process said: a failed step's message carries it. */
  const logs = () =>
    [
      ...services.map(
        (p, i) => `--- ${['power', 'netboot', 'deploy-helper', 'compute', 'scheduler'][i]}\n${tail(p.output())}`,
      ),
      `--- ramdisk\n${tail(ramdisk?.log() ?? '(not started)')}`,
    ]
      .join('\n')
      .replace(ANSI_COLOUR, '');
  /** `p`, or a failure naming `what` with the logs once `ms` have passed. */
  const within = async <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s\n${logs()}`)), ms);
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const diskFile = () => join(work, 'node-disk.img');

  /** `bmctl image create … --json` → the new image's id. */
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
    expect(made.code).toBe(0);
    return (JSON.parse(made.out) as { id: string }).id;
  };

  beforeAll(async () => {
    requireBuilt('deploy-helper');
    work = await mkdtemp(join(tmpdir(), 'bm-deploy-flow-'));
    db = await createNovaBmDatabase('bm_deploy_flow');
    ds = db.ds;
    const site: ServiceSite = { databaseUrl: db.url, exchange: uniqueName('flow'), host: HOST };
    images = await startImages(site, join(work, 'images'));
    env = { ...siteEnv(site), ...images.env };

    // The boot network and the node on it.
    srv = Netns.create('flow-srv');
    node = Netns.create('flow-node');
    srv.ip('link', 'add', 'br0', 'type', 'bridge');
    srv.addAddress('br0', `${SERVER_IP}/24`, true);
    srv.veth('vnode', node, 'eth0');
    srv.ip('link', 'set', 'vnode', 'master', 'br0');
    srv.ip('link', 'set', 'vnode', 'up');
    node.ip('link', 'set', 'eth0', 'address', MAC);
    node.ip('link', 'set', 'eth0', 'up');
    node.ip('route', 'add', '255.255.255.255/32', 'dev', 'eth0');
    for (const port of [Number(new URL(db.url).port || 5432), Number(new URL(TEST_AMQP_URL).port || 5672)])
      await srv.forwardHostPort(port);
    await srv.forwardHostPort(images.port);

    // The node: a virtual BMC, enrolled the operator's way (local_gb 2, as the flavor: ExactDiskFilter),
    // its disk a sparse 3 GiB file.
    bmc = await startVirtualBmc(PASSWORD);
    await writeFile(
      join(work, 'baremetal.csv'),
      'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port\n' +
        `${MAC},admin,${PASSWORD},127.0.0.1:${bmc.bmc.port},1,512,2,x86_64,,\n`,
    );
    expect((await cli('node', 'import', join(work, 'baremetal.csv'))).code).toBe(0);
    await writeFile(diskFile(), '');
    await truncate(diskFile(), 3 * 1024 * MIB);

    const svc = async (app: string, extra: Record<string, string>, ns?: Netns, ready = 'rpc=') => {
      const p = startService(app, await serviceEnv(site, { ...images.env, ...extra }), ns);
      services.push(p);
      await p.waitFor(ready, 30_000);
    };
    await svc('power', {});
    await svc(
      'netboot',
      {
        BM_MY_IP: SERVER_IP,
        BM_PXE_INTERFACE: 'br0',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.79.0.50,10.79.0.99',
        BM_TFTP_ENABLED: 'true',
        BM_TFTP_ROOT: tftpRoot(),
      },
      srv,
    );
    await svc('deploy-helper', { BM_ISCSI_ATTACHER: 'userspace', BM_MY_IP: SERVER_IP }, srv, 'consuming');
    await svc('compute', { BM_PXE_DEPLOY_TIMEOUT: '180' });
    await eventually(
      async () =>
        expect(Number((await ds.query('SELECT count(*) AS n FROM compute_nodes WHERE deleted = false'))[0].n)).toBe(1),
      20_000,
      200,
    );
    await svc('scheduler', {});
  }, 120_000);

  afterAll(async () => {
    await ramdisk?.stop();
    for (const s of services.reverse()) await s.stop();
    await srv?.destroy();
    await node?.destroy();
    await images?.stop();
    await bmc?.bmc.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
    expect(testNamespaces()).toEqual(namespacesBefore);
  });

  it('ends active: the image verified on the disk, the PXE config switched to boot, done delivered, every step on the timeline', async () => {
    // The images, as an operator uploads them.
    const files = join(work, 'files');
    await mkdir(join(files, 'root'), { recursive: true });
    for (const f of ['deploy-kernel', 'deploy-ramdisk', 'kernel', 'ramdisk']) await writeFile(join(files, f), `${f}\n`);
    await writeFile(join(files, 'root', 'marker'), MARKER);
    await run('mkfs.ext4', ['-q', '-F', '-d', join(files, 'root'), '-L', 'root', join(files, 'root.img'), '24M']);
    const deployKernel = await createImage('flow-deploy-kernel', 'aki', 'aki', join(files, 'deploy-kernel'));
    const deployRamdisk = await createImage('flow-deploy-ramdisk', 'ari', 'ari', join(files, 'deploy-ramdisk'));
    const kernel = await createImage('flow-kernel', 'aki', 'aki', join(files, 'kernel'));
    const ramdiskImage = await createImage('flow-ramdisk', 'ari', 'ari', join(files, 'ramdisk'));
    const image = await createImage(
      'flow-image',
      'raw',
      'bare',
      join(files, 'root.img'),
      '--property',
      `kernel_id=${kernel}`,
      '--property',
      `ramdisk_id=${ramdiskImage}`,
    );
    const flavor = await cli(
      'flavor',
      'create',
      'flow.small',
      '--vcpus',
      '1',
      '--ram',
      '512',
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
    expect(flavor.code).toBe(0);

    const booting = cli(
      'boot',
      'flow-vm',
      '--flavor',
      'flow.small',
      '--image',
      'flow-image',
      '--timeout',
      '200',
      '--json',
    );
    const prepared = eventually(
      async () =>
        expect((await ds.query('SELECT task_state FROM bm_nodes WHERE deleted = false'))[0].task_state).toBe(
          'prepared',
        ),
      60_000,
      250,
    );
    // bmctl boot ending first (NoValidHost, a refused image…) says why nothing was prepared.
    await Promise.race([
      prepared.catch((e: Error) => Promise.reject(new Error(`${e.message}\n${logs()}`))),
      booting.then((r) => Promise.reject(new Error(`bmctl boot ended (${r.code}) before prepared:\n${r.err}`))),
    ]);
    expect(bmc.machine.isPoweredOn()).toBe(true);

    // The firmware: DHCP from netboot (the reservation the callback is checked against)…
    const hook = join(work, 'udhcpc.sh');
    await writeFile(
      hook,
      '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && echo "bound $ip $siaddr $boot_file"\nexit 0\n',
    );
    await chmod(hook, 0o755);
    const dhcp = await within(
      'DHCP',
      20_000,
      run('ip', [
        'netns',
        'exec',
        node.name,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-n',
        '-q',
        '-t',
        '5',
        '-T',
        '1',
        '-s',
        hook,
      ]),
    );
    const [, address, nextServer, bootFile] = /bound (\S+) (\S+) (\S+)/.exec(dhcp.stdout) ?? [];
    expect([nextServer, bootFile]).toEqual([SERVER_IP, 'pxelinux.0']);
    // …TFTP of its config and of the deploy kernel and ramdisk it names (the images, by id).
    const tftp = async (path: string) => {
      const out = join(work, `tftp-${path.replace(/\//g, '_')}`);
      await run('ip', ['netns', 'exec', node.name, 'curl', '-sS', '-o', out, `tftp://${SERVER_IP}/${path}`]);
      return readFile(out, 'utf8');
    };
    const config = await tftp(`pxelinux.cfg/01-${MAC.replace(/:/g, '-')}`);
    expect(config).toMatch(/^default deploy\n/);
    const { nodeId, key, iqn } = deployParams(config);
    const instance = iqn.replace(/^iqn-/, '');
    expect(await tftp(`/${tftpRoot()}/${instance}/deploy_kernel`)).toBe('deploy-kernel\n');
    expect(await tftp(`/${tftpRoot()}/${instance}/deploy_ramdisk`)).toBe('deploy-ramdisk\n');

    // The deploy ramdisk: export the disk, call back, wait for done.
    ramdisk = await startScriptedRamdisk({
      netns: node.name,
      address,
      callbackUrl: `http://${SERVER_IP}:10000`,
      nodeId,
      deployKey: key,
      instanceUuid: instance,
      diskFile: diskFile(),
    });
    const finished = await within('the ramdisk receives done', 90_000, ramdisk.done);
    expect(finished).toMatchObject({ received: expect.stringMatching(/^done/), exitCode: 0 });

    const booted = await within('bmctl boot returns', 30_000, booting);
    expect([booted.code, booted.err]).toEqual([0, expect.stringContaining('active')]);
    expect(JSON.parse(booted.out)).toMatchObject({ name: 'flow-vm', task_state: 'active' });

    // The row: active, the image's id recorded, the deploy key used once and cleared.
    const [row] = await ds.query(
      'SELECT task_state, instance_uuid, image_path, deploy_key FROM bm_nodes WHERE id = $1',
      [nodeId],
    );
    expect(row).toMatchObject({ task_state: 'active', instance_uuid: instance, image_path: image, deploy_key: null });

    // The PXE config: default boot, root=UUID of the filesystem now on the disk.
    const final = await readFile(join(tftpRoot(), instance, 'config'), 'utf8');
    expect(final).toMatch(/^default boot\n/);
    const rootUuid = /root=UUID=(\S+)/.exec(final)?.[1];

    // The disk: Icehouse layout (ephemeral first, swap (the flavor's 0 raised to the seed's 1 MiB),
    // root last), the image at root.
    const table = JSON.parse((await run('sfdisk', ['-J', diskFile()])).stdout) as {
      partitiontable: { partitions: Array<{ start: number; size: number }> };
    };
    const parts = table.partitiontable.partitions;
    expect(parts.map((p) => (p.size * 512) / MIB)).toEqual([1024, 1, 1024]);
    const at = (i: number) => parts[i].start * 512;
    const probe = async (i: number) =>
      (await run('blkid', ['-p', '-O', String(at(i)), '-o', 'export', diskFile()])).stdout;
    expect(await probe(2)).toContain(`UUID=${rootUuid}`);
    expect(await probe(2)).toContain('TYPE=ext4');
    expect(await probe(1)).toMatch(/LABEL=swap1[\s\S]*TYPE=swap/);
    expect(await probe(0)).toMatch(/LABEL=ephemeral0[\s\S]*TYPE=ext3/);
    expect((await run('debugfs', ['-R', 'cat /marker', `${diskFile()}?offset=${at(2)}`])).stdout).toBe(MARKER);

    // bmctl node watch: the node is active; the time it spent in each state of the deploy.
    const watched = await cli('node', 'watch', String(nodeId), '--timeout', '10', '--json');
    expect(watched.code).toBe(0);
    expect(JSON.parse(watched.out)).toEqual([
      expect.objectContaining({
        nodeId,
        state: 'active',
        inState: expect.objectContaining({ building: expect.any(Number), deploying: expect.any(Number) }),
      }),
    ]);

    // The timeline: every service's part.
    const events = JSON.parse((await cli('node', 'timeline', String(nodeId), '--json')).out) as Array<{
      source: string;
      kind: string;
      detail: string;
    }>;
    const kinds = new Set(events.map((e) => `${e.source} ${e.kind}`));
    for (const k of [
      'power power.boot_device',
      'power power.on',
      'netboot dhcp.ack',
      'netboot tftp.file',
      'deploy-helper deploy.callback',
      'deploy-helper deploy.step',
      'deploy-helper deploy.progress',
      'compute state',
      'deploy-helper state',
    ])
      expect(kinds).toContain(k);
    const steps = events.filter((e) => e.kind === 'deploy.step').map((e) => e.detail.split(':')[0]);
    // Every state the node went through, in order, each by the service that moved it.
    expect(events.filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`)).toEqual([
      'compute building (associate)',
      'compute prepared (prepared)',
      'deploy-helper deploying (deploy_started)',
      'deploy-helper deploy complete (deploy_done)',
      'compute active (activated)',
    ]);
    for (const step of [
      'attach',
      'image',
      'layout',
      'partition',
      'write',
      'mkswap',
      'mkfs_ephemeral',
      'root_uuid',
      'detach',
      'activate_boot',
      'notify',
    ])
      expect(steps).toContain(step);
  });
});
