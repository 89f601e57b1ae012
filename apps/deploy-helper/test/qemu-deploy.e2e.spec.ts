import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { CommandRunner } from '@bm/exec';
import { QemuMachine, VirtualBmc } from '@bm/ipmi';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { BMCTL, type BmctlRun, ROOT, bmctl, requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ImagesService, startImages } from '../../../test/support/images';
import { completeLines } from '../../../test/support/lines';
import { type Netns, bootNetwork, bootWorkspace, testNamespaces } from '../../../test/support/netns';
import {
  type ServiceProcess,
  type ServiceSite,
  serviceEnv,
  siteEnv,
  startService,
} from '../../../test/support/service';

// The seed's whole deploy with a real node: a QEMU VM (TCG) behind a virtual BMC, the built
// services on the real broker and database, and the real deploy ramdisk and instance image
// (scripts/netboot/build-deploy-ramdisk.sh, scripts/netboot/build-user-image.sh, Debian's kernel):
//
//   bmctl image create ×5 (the deploy kernel + ramdisk, the instance image with its kernel_id and
//   ramdisk_id), a flavor naming the deploy pair, bmctl boot --wait-for active;
//   scheduler → compute → netboot (pxelinux config `default deploy`) + power (IPMI to the virtual
//   BMC: bootdev pxe, power on = QEMU starts);
//   the VM PXE-boots (iPXE ROM → our DHCP + TFTP → pxelinux → the deploy kernel and ramdisk); the
//   ramdisk brings up BOOTIF's NIC with ipappend's address, exports /dev/vda with tgtd and posts
//   the callback to port 10000; the deploy helper (in the boot network's namespace, userspace
//   iSCSI) partitions the disk, writes the image, reads its root UUID, switches the PXE config to
//   `default boot` and sends `done`; the ramdisk stops its target and reboots;
//   the VM PXE-boots again, now into the instance's kernel + initramfs with root=UUID=…, which
//   mounts its partition of /dev/vda and switch_roots into the image: the image's marker shows
//   on the serial console, and the instance is active.
//
// Networking: the boot network is a namespace (test/support/netns bootNetwork: tap0 10.77.0.1/24,
// IPv6 RAs for iPXE) holding netboot, the deploy helper and the VM's tap (the database, broker
// and images service relayed in); the virtual BMC and the other services are on the host's
// loopback. Nothing touches the host's interfaces.
//
// The node's disk is a 2 GiB sparse file. Its MBR boot code is `int 18h` ("boot failed: try the next
// device"), which partitioning keeps (sfdisk leaves the first 440 bytes alone): the disk has no
// boot loader, so after the deploy's reboot the firmware (SeaBIOS, boot order disk then network)
// goes on to PXE, where Havana's node gets there by a persistent `bootdev pxe` (bug 1178092).
const run = promisify(execFile);
const HOST = 'cn-qemu-deploy';
const PASSWORD = 'bmc-Qemu-7';
const MAC = '52:54:00:77:00:41';
const SERVER_IP = '10.77.0.1';
const MIB = 1024 * 1024;
const BOOT_DIR = join(ROOT, '.cache/netboot');

/** Ends the flow early when the VM reports an error or the kernel panics. */
const CONSOLE_FAILURE = /NOVA-BM-[A-Z-]+: error: .*|Kernel panic.*/;
/** Nest's colour codes (ESC [ … m), taken out of the logs a failure message carries. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const tail = (text: string, lines = 30) => text.split('\n').slice(-lines).join('\n');

jest.setTimeout(240_000);

describe('a QEMU node deployed end to end: PXE deploy ramdisk → iSCSI → the image boots from its disk', () => {
  /** This test's boot network namespace (`bmt-qdep-…`); other tests may run beside it. */
  const ours = () => testNamespaces().filter((n) => n.startsWith('bmt-qdep-'));
  const namespacesBefore = ours();
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  let tftpRoot: string;
  let srv: Netns;
  let images: ImagesService;
  let machine: QemuMachine | undefined;
  let bmc: VirtualBmc | undefined;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  const names = ['power', 'netboot', 'deploy-helper', 'compute', 'scheduler'];
  const cli = (...args: string[]) => bmctl(args, env);
  const consoleLog = () => join(work, 'console.log');
  const diskFile = () => join(work, 'node-disk.img');
  const serial = () => (existsSync(consoleLog()) ? readFileSync(consoleLog(), 'latin1') : '');
  /** What every process said and the console's end: a failed step's message carries them. */
  const logs = () =>
    [
      ...services.map((p, i) => `--- ${names[i]}\n${tail(p.output())}`),
      `--- qemu\n${existsSync(join(work, 'qemu.log')) ? readFileSync(join(work, 'qemu.log'), 'utf8') : ''}`,
      `--- bmctl boot\n${bootProgress}`,
      `--- console\n${tail(serial(), 60)}`,
    ]
      .join('\n')
      .replace(ANSI_COLOUR, '');

  /** When (ms after `t0`) each console line was first seen: the flow's timings. */
  const seen = new Map<string, number>();
  let t0 = 0;
  /** The first console line matching `re`, waiting up to `ms`; fails at once on a CONSOLE_FAILURE. */
  const consoleLine = async (re: RegExp, ms: number): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      // Whole lines only: QEMU may be in the middle of writing the line a step looks for.
      const lines = completeLines(serial());
      for (const l of lines) if (!seen.has(l)) seen.set(l, Date.now() - t0);
      const hit = lines.find((l) => re.test(l));
      if (hit) return hit;
      const failed = lines.find((l) => CONSOLE_FAILURE.test(l));
      if (failed) throw new Error(`the VM failed: ${failed}\n${logs()}`);
      if (Date.now() > deadline) throw new Error(`no console line ${re} within ${ms / 1000} s\n${logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const at = (re: RegExp) => [...seen].find(([l]) => re.test(l))?.[1];

  /** What `bmctl boot` has said so far (its progress, on stderr). */
  let bootProgress = '';
  /** `bmctl boot …` (as bmctl() runs it), its progress readable while it runs. */
  const boot = (...args: string[]) =>
    new Promise<BmctlRun>((done, fail) => {
      const child = spawn(BMCTL, ['boot', ...args, '--timeout', '180'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH!, TZ: 'UTC', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (bootProgress += d));
      child.on('error', fail);
      child.on('close', (code) => done({ code: code ?? -1, out, err: bootProgress }));
    });

  /** `bmctl image create … --json` → the new image's id. */
  const upload = async (name: string, format: 'aki' | 'ari' | 'raw', file: string, ...more: string[]) => {
    const container = format === 'raw' ? 'bare' : format;
    const made = await cli(
      'image',
      'create',
      name,
      '--disk-format',
      format,
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
    // The boot files: pxelinux (in a fresh TFTP root), Debian's kernel, then the lab's deploy
    // ramdisk and user image with that kernel's modules. Each is built once into .cache/netboot;
    // the first build downloads the kernel package.
    ({ work, tftpRoot } = await bootWorkspace('bm-qemu-deploy'));
    for (const script of ['build-deploy-ramdisk.sh', 'build-user-image.sh'])
      await run('bash', [join(ROOT, 'scripts/netboot', script), BOOT_DIR], { timeout: 300_000 });

    db = await createNovaBmDatabase('bm_qemu_deploy');
    ds = db.ds;
    const site: ServiceSite = { databaseUrl: db.url, exchange: uniqueName('qdeploy'), host: HOST };
    images = await startImages(site, join(work, 'images'));
    env = { ...siteEnv(site), ...images.env };

    srv = await bootNetwork('qdep', work);
    for (const port of [Number(new URL(db.url).port || 5432), Number(new URL(TEST_AMQP_URL).port || 5672)])
      await srv.forwardHostPort(port);
    await srv.forwardHostPort(images.port);

    // The node: 2 GiB of sparse disk whose boot code hands over to the next boot device (above).
    await writeFile(diskFile(), '');
    await truncate(diskFile(), 2048 * MIB);
    const disk = await open(diskFile(), 'r+');
    await disk.write(Buffer.from([0xcd, 0x18, 0xeb, 0xfe]), 0, 4, 0); // int 18h; jmp $
    await disk.close();
    machine = new QemuMachine({
      runner: new CommandRunner(),
      mac: MAC,
      tap: 'tap0',
      netns: srv.name,
      serialLog: consoleLog(),
      qemuLog: join(work, 'qemu.log'),
      memoryMb: 512,
      disk: diskFile(),
    });
    bmc = new VirtualBmc({ port: 0, users: { admin: PASSWORD }, machine });
    await bmc.start();
    // Enrolled the operator's way; local_gb 1 = the flavor's root 1 + ephemeral 0 (ExactDiskFilter).
    await writeFile(
      join(work, 'baremetal.csv'),
      'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb,cpu_arch,service_host,terminal_port\n' +
        `${MAC},admin,${PASSWORD},127.0.0.1:${bmc.port},1,512,1,x86_64,,\n`,
    );
    expect((await cli('node', 'import', join(work, 'baremetal.csv'))).code).toBe(0);

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
        BM_PXE_INTERFACE: 'tap0',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.77.0.50,10.77.0.99',
        BM_TFTP_ENABLED: 'true',
        BM_TFTP_ROOT: tftpRoot,
        // The serial console for the kernels (the VM has no screen); reboot on a panic.
        BM_PXE_APPEND_PARAMS: 'console=ttyS0 panic=1 quiet',
      },
      srv,
    );
    await svc('deploy-helper', { BM_ISCSI_ATTACHER: 'userspace', BM_MY_IP: SERVER_IP }, srv, 'consuming');
    await svc('compute', { BM_PXE_DEPLOY_TIMEOUT: '170' });
    await eventually(
      async () =>
        expect(Number((await ds.query('SELECT count(*) AS n FROM compute_nodes WHERE deleted = false'))[0].n)).toBe(1),
      20_000,
      200,
    );
    await svc('scheduler', {});
  }, 600_000);

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    await bmc?.stop();
    await machine?.shutdown();
    await srv?.destroy();
    await images?.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
    expect(ours()).toEqual(namespacesBefore);
  });

  it('ends active, the VM running the image from its own disk, every step on the console and the timeline', async () => {
    const file = (f: string) => join(BOOT_DIR, f);
    const deployKernel = await upload('qemu-deploy-kernel', 'aki', file('vmlinuz'));
    const deployRamdisk = await upload('qemu-deploy-ramdisk', 'ari', file('deploy-initrd.gz'));
    const kernel = await upload('qemu-kernel', 'aki', file('vmlinuz'));
    const ramdisk = await upload('qemu-ramdisk', 'ari', file('user-initrd.gz'));
    const image = await upload(
      'qemu-image',
      'raw',
      file('user-root.img'),
      '--property',
      `kernel_id=${kernel}`,
      '--property',
      `ramdisk_id=${ramdisk}`,
    );
    const marker = (await run('debugfs', ['-R', 'cat /etc/nova-bm-marker', file('user-root.img')])).stdout.trim();
    expect(marker).toMatch(/^NOVA-BM-USER-IMAGE [0-9a-f]{16}$/);
    const flavor = await cli(
      'flavor',
      'create',
      'qemu.small',
      '--vcpus',
      '1',
      '--ram',
      '512',
      '--disk',
      '1',
      '--extra-spec',
      'cpu_arch=x86_64',
      '--extra-spec',
      `baremetal:deploy_kernel_id=${deployKernel}`,
      '--extra-spec',
      `baremetal:deploy_ramdisk_id=${deployRamdisk}`,
    );
    expect(flavor.code).toBe(0);

    t0 = Date.now();
    const booting = boot(
      'qemu-vm',
      '--flavor',
      'qemu.small',
      '--image',
      'qemu-image',
      '--wait-for',
      'active',
      '--json',
    );
    let activeAt: number | undefined;
    void booting.then(() => (activeAt = Date.now() - t0));
    // bmctl boot ending before the VM got anywhere (NoValidHost, a refused image…) says why.
    const early = booting.then((r) =>
      r.code === 0 ? new Promise<never>(() => undefined) : Promise.reject(new Error(`bmctl boot: ${r.code} ${r.err}`)),
    );
    early.catch(() => undefined); // seen by the races below; not an unhandled rejection after them
    const step = (re: RegExp, ms: number) => Promise.race([consoleLine(re, ms), early]);

    // The deploy boot: Nova's deploy label with pxelinux's ipappend 3, as the ramdisk read it.
    const cmdline = await step(/NOVA-BM-DEPLOY-RAMDISK: cmdline:/, 90_000);
    const [, nodeId, iqn] = /deployment_id=(\d+) iqn=(\S+)/.exec(cmdline) ?? [];
    expect(cmdline).toContain(`mac=${MAC} address=10.77.0.50 server=${SERVER_IP}`);
    expect(cmdline).toContain('disk=cciss/c0d0,sda,hda,vda');
    expect(iqn).toMatch(/^iqn-[0-9a-f-]{36}$/);
    const instance = iqn.replace(/^iqn-/, '');
    await step(/NOVA-BM-DEPLOY-RAMDISK: exported \/dev\/vda as iqn-/, 30_000);
    await step(/NOVA-BM-DEPLOY-RAMDISK: callback accepted/, 15_000);
    // The helper writes the image, switches the config to boot, and says done.
    expect(await step(/NOVA-BM-DEPLOY-RAMDISK: done received/, 90_000)).toMatch(/done received: done/);
    await step(/NOVA-BM-DEPLOY-RAMDISK: rebooting/, 15_000);

    // The instance boot: PXE again (the disk's boot code passes), root=UUID=… from the config.
    const config = await readFile(join(tftpRoot, instance, 'config'), 'utf8');
    expect(config).toMatch(/^default boot\n/);
    const rootUuid = /root=UUID=([0-9a-f-]{36})/.exec(config)?.[1];
    expect(rootUuid).toBeDefined();
    expect(await step(/NOVA-BM-USER-INITRD: root UUID=/, 90_000)).toContain(`root UUID=${rootUuid} is /dev/vda1`);
    await step(/NOVA-BM-USER-INITRD: switch_root/, 20_000);
    expect(await step(/^NOVA-BM-USER-IMAGE /, 20_000)).toBe(marker);
    expect(await step(/NOVA-BM-USER-IMAGE: root/, 10_000)).toContain('root /dev/vda1 (ext4, ro');

    const booted = await booting;
    expect([booted.code, booted.err]).toEqual([0, expect.stringContaining('active')]);
    expect(JSON.parse(booted.out)).toMatchObject({ name: 'qemu-vm', task_state: 'active' });
    const [row] = await ds.query('SELECT id, task_state, instance_uuid, image_path, deploy_key FROM bm_nodes');
    expect(row).toMatchObject({
      id: Number(nodeId),
      task_state: 'active',
      instance_uuid: instance,
      image_path: image,
      deploy_key: null,
    });

    // The VM: powered on through IPMI with PXE first (for that boot only, or persistently), the
    // disk attached; still running.
    expect(machine!.lastArgs.join(' ')).toMatch(/-boot (once=n,order=cn|order=n)\b/);
    expect(machine!.lastArgs.join(' ')).toContain(`file=${diskFile()},if=virtio,format=raw`);
    expect(machine!.isPoweredOn()).toBe(true);

    // The disk: H layout (root first, then the swap the flavor's 0 raises to 1 MiB), the image's
    // filesystem at the root partition with the UUID the config boots.
    const table = JSON.parse((await run('sfdisk', ['-J', diskFile()])).stdout) as {
      partitiontable: { label: string; partitions: Array<{ start: number; size: number }> };
    };
    expect(table.partitiontable.label).toBe('dos');
    expect(table.partitiontable.partitions.map((p) => (p.size * 512) / MIB)).toEqual([1024, 1]);
    const root = await run('blkid', [
      '-p',
      '-O',
      String(table.partitiontable.partitions[0].start * 512),
      '-o',
      'export',
      diskFile(),
    ]);
    expect(root.stdout).toContain(`UUID=${rootUuid}`);

    // The timeline: both boots (DHCP and TFTP twice, the deploy pair then the instance's pair),
    // every state in order, each by the service that moved it, the deploy's steps.
    const events = JSON.parse((await cli('node', 'timeline', nodeId, '--json')).out) as Array<{
      at: string;
      source: string;
      kind: string;
      detail: string;
    }>;
    expect(events.filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`)).toEqual([
      'compute building (associate)',
      'compute prepared (prepared)',
      'deploy-helper deploying (deploy_started)',
      'deploy-helper deploy complete (deploy_done)',
      'compute active (activated)',
    ]);
    const kinds = new Set(events.map((e) => `${e.source} ${e.kind}`));
    for (const k of [
      'power power.boot_device',
      'power power.on',
      'deploy-helper deploy.callback',
      'deploy-helper deploy.step',
    ])
      expect(kinds).toContain(k);
    expect(events.filter((e) => e.kind === 'dhcp.ack').length).toBeGreaterThanOrEqual(2);
    const files = events
      .filter((e) => e.kind === 'tftp.file' && e.detail.startsWith(`${tftpRoot}/${instance}/`))
      .map((e) => e.detail.split(' ')[0].split('/').pop());
    expect(files).toEqual(['deploy_kernel', 'deploy_ramdisk', 'kernel', 'ramdisk']);
    const steps = events.filter((e) => e.kind === 'deploy.step').map((e) => e.detail.split(':')[0]);
    for (const s of ['attach', 'partition', 'write', 'mkswap', 'root_uuid', 'detach', 'activate_boot', 'notify'])
      expect(steps).toContain(s);

    // How long each part took (seconds after bmctl boot), for the record.
    const s = (ms?: number) => (ms === undefined ? '-' : (ms / 1000).toFixed(1));
    console.log(
      [
        `deploy ramdisk up       ${s(at(/NOVA-BM-DEPLOY-RAMDISK: started/))}`,
        `disk exported           ${s(at(/NOVA-BM-DEPLOY-RAMDISK: exported/))}`,
        `callback accepted       ${s(at(/NOVA-BM-DEPLOY-RAMDISK: callback accepted/))}`,
        `done received           ${s(at(/NOVA-BM-DEPLOY-RAMDISK: done received/))}`,
        `instance initramfs up   ${s(at(/NOVA-BM-USER-INITRD: started/))}`,
        `image marker            ${s(at(/^NOVA-BM-USER-IMAGE /))}`,
        `bmctl boot: active      ${s(activeAt)}`,
      ].join('\n'),
    );
  });
});
