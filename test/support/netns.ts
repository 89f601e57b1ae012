import { type ChildProcess, execFile, execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PxeLayout, generateDeployKey } from '@bm/pxe';
import { ROOT } from './bmctl';
import { completeLines } from './lines';

/** The namespaces this test file made (each file has its own module registry). */
const made = new Set<string>();

/**
 * Private network namespaces for peer and e2e tests (root only; iproute2). Everything a test
 * builds here (namespaces, veth pairs, taps, the processes inside) is removed by destroy(); no
 * address is ever put on the host's own interfaces. Namespaces are named `bmt-<prefix>-<hex>` so
 * a leak is easy to spot (`ip netns list`).
 */
export class Netns {
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  private constructor(readonly name: string) {}

  static create(prefix: string): Netns {
    if (process.getuid?.() !== 0) throw new Error('network namespace tests need root (CI runs as root)');
    const ns = new Netns(`bmt-${prefix}-${randomBytes(3).toString('hex')}`);
    execFileSync('ip', ['netns', 'add', ns.name]);
    made.add(ns.name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n <ns> …` */
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], { encoding: 'utf8' });
  }

  /** A process inside the namespace; killed (SIGTERM, then SIGKILL) by destroy(). */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.children.push(child);
    return child;
  }

  /** An interface with an address, up; `broadcastRoute` lets 255.255.255.255 go out on it (needed in a namespace). */
  addAddress(dev: string, cidr: string, broadcastRoute = false): void {
    this.ip('addr', 'add', cidr, 'dev', dev);
    this.ip('link', 'set', dev, 'up');
    if (broadcastRoute) this.ip('route', 'add', '255.255.255.255/32', 'dev', dev);
  }

  /** A veth pair: `dev` here, `peerDev` in `peer`. */
  veth(dev: string, peer: Netns, peerDev: string): void {
    this.ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', peerDev, 'netns', peer.name);
  }

  /**
   * Makes the host's 127.0.0.1:`port` (PostgreSQL, RabbitMQ) reachable as 127.0.0.1:`port` inside
   * the namespace: a listener in here relays to a Unix socket (files cross namespaces) that this
   * process relays to the host port.
   */
  async forwardHostPort(port: number): Promise<void> {
    const path = join(tmpdir(), `${this.name}-${port}.sock`);
    rmSync(path, { force: true });
    const open = new Set<Socket>();
    const outside: Server = createServer((c) => {
      const u = createConnection(port, '127.0.0.1');
      for (const s of [c, u]) {
        open.add(s);
        s.once('close', () => open.delete(s));
      }
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((ok, fail) => outside.once('error', fail).listen(path, ok));
    this.cleanups.push(
      // close() waits for every connection to end: one left half-open (seen in the fault test's
      // stop, which then never ended) would hold it for ever, so whatever is left is cut.
      () =>
        new Promise<void>((ok) => {
          outside.close(() => ok());
          for (const s of open) s.destroy();
        }),
      () => rmSync(path, { force: true }),
    );
    const inside = this.spawn(process.execPath, [join(ROOT, 'scripts/netboot/relay.js'), `127.0.0.1:${port}`, path]);
    await new Promise<void>((ok, fail) => {
      let said = '';
      inside.stdout!.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('READY')) ok();
      });
      inside.stderr!.on('data', (d: Buffer) => (said += d.toString()));
      inside.once('exit', (code) => fail(new Error(`relay for port ${port} exited ${code}: ${said}`)));
    });
  }

  async destroy(): Promise<void> {
    await Promise.all(this.children.map((c) => stop(c)));
    for (const f of this.cleanups.reverse()) await f();
    execFileSync('ip', ['netns', 'del', this.name]);
  }
}

/** SIGTERM, and SIGKILL after 10 s; resolves once the process is gone. */
export function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(t);
      ok();
    });
    c.kill('SIGTERM');
  });
}

/**
 * The namespaces this test file made that still exist, to check that it left none behind. Only
 * its own: another suite running on the machine at the same time has namespaces of its own.
 */
export function testNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((name) => made.has(name));
}

/**
 * A boot network for QEMU: a namespace with `tap0` at 10.77.0.1/24 and IPv6 router advertisements
 * from dnsmasq (RA only, no DHCP or TFTP port): without them iPXE waits ~13 s for an IPv6 router.
 * With `bridge`, tap0 is a port of bridge `br0`, which holds the address (add veths to it for
 * more hosts on the segment); `dnsmasqArgs` are added to that dnsmasq (e.g. a DHCPv4 range).
 */
export async function bootNetwork(
  prefix: string,
  logDir: string,
  opts: { bridge?: boolean; dnsmasqArgs?: string[] } = {},
): Promise<Netns> {
  const ns = Netns.create(prefix);
  ns.ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
  let dev = 'tap0';
  if (opts.bridge) {
    dev = 'br0';
    ns.ip('link', 'add', 'br0', 'type', 'bridge');
    ns.ip('link', 'set', 'tap0', 'master', 'br0');
    ns.ip('link', 'set', 'tap0', 'up');
  }
  ns.addAddress(dev, '10.77.0.1/24', true);
  ns.ip('-6', 'addr', 'add', 'fd77::1/64', 'dev', dev, 'nodad');
  const dnsmasq = ns.spawn('dnsmasq', [
    '--keep-in-foreground',
    '--port=0',
    `--interface=${dev}`,
    '--bind-interfaces',
    '--enable-ra',
    `--dhcp-range=::,constructor:${dev},ra-only,64`,
    '--pid-file=',
    '--conf-file=/dev/null',
    `--log-facility=${join(logDir, 'dnsmasq.log')}`,
    ...(opts.dnsmasqArgs ?? []),
  ]);
  dnsmasq.stderr!.on('data', () => undefined);
  return ns;
}

export const BOOT_MARKER = 'NOVA-BM-TEST-INITRAMFS';

/**
 * Boots a QEMU VM (TCG, the iPXE ROM of ipxe-qemu, virtio-net on `tap0` of `ns`) with boot order
 * network, and resolves with the first serial console line that starts with `marker` (the test
 * initramfs of scripts/netboot/build-test-boot.sh prints it and powers off). Rejects with the
 * console's tail after `timeoutMs` or if QEMU exits first.
 */
export async function pxeBootVm(
  ns: Netns,
  mac: string,
  serialLog: string,
  timeoutMs = 100_000,
  marker = BOOT_MARKER,
): Promise<string> {
  rmSync(serialLog, { force: true });
  const qemu = ns.spawn('qemu-system-x86_64', [
    '-machine',
    'pc,accel=tcg',
    '-m',
    '512',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${serialLog}`,
    '-no-reboot',
    '-boot',
    'n',
    '-netdev',
    'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device',
    `virtio-net-pci,netdev=n0,mac=${mac}`,
  ]);
  let stderr = '';
  qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const console = () => (existsSync(serialLog) ? readFileSync(serialLog, 'latin1') : '');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      // Only whole lines: the serial file is read while QEMU is still writing the marker's line.
      const line = completeLines(console()).find((l) => l.startsWith(marker));
      if (line) return line;
      if (qemu.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `no ${marker} line after ${Math.round(timeoutMs / 1000)} s (qemu ${qemu.exitCode === null ? 'still running' : `exited ${qemu.exitCode}`}${stderr ? `: ${stderr.trim()}` : ''}); console tail:\n${console().slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await stop(qemu);
  }
}

/** scripts/netboot/serve.ts (our DHCP + TFTP alone) running in a namespace, with its JSON log. */
export interface StandaloneServers {
  /** One entry per DHCP decision and per TFTP transfer, as serve.ts prints them. */
  log: Record<string, unknown>[];
  /** Whatever else it printed (errors), for failure messages. */
  output: () => string;
}

/**
 * Starts serve.ts inside `ns` with `env` (ADDRESS, RANGE, MACS, TFTP_ROOT, MODE…; see the
 * script) and resolves once it has written `readyFile`.
 */
export async function serveInNamespace(
  ns: Netns,
  env: Record<string, string>,
  readyFile: string,
): Promise<StandaloneServers> {
  // ts-node runs the TypeScript; tsconfig-paths resolves the libs' @bm/… imports of each other.
  const loaders = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];
  const child = ns.spawn(process.execPath, [...loaders, 'scripts/netboot/serve.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, READY_FILE: readyFile },
  });
  const log: Record<string, unknown>[] = [];
  let partial = '';
  let other = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      if (l.startsWith('{')) log.push(JSON.parse(l) as Record<string, unknown>);
      else other += `${l}\n`;
    }
  });
  child.stderr!.on('data', (d: Buffer) => (other += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(readyFile)) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`serve.ts did not start in ${ns.name}:\n${other}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { log, output: () => other };
}

/** The test boot files (scripts/netboot/build-test-boot.sh): vmlinuz, initrd.gz, pxelinux.0, ldlinux.c32. */
export const TEST_BOOT_DIR = join(ROOT, '.cache/netboot');

/** A PXE test's scratch space: the boot files, a work directory, and its TFTP root (`<work>/tftpboot`). */
export interface BootWorkspace {
  images: string;
  work: string;
  /** Holds pxelinux.0 and ldlinux.c32, as an operator installs them once per host (Nova's install guide). */
  tftpRoot: string;
}

/**
 * Builds the test boot files into TEST_BOOT_DIR (reused when there; the first build downloads a
 * kernel package, hence the 5 minutes), then a fresh work directory `<tmp>/<prefix>-…` whose TFTP
 * root has pxelinux. Remove `work` after the test.
 */
export async function bootWorkspace(prefix: string): Promise<BootWorkspace> {
  const images = TEST_BOOT_DIR;
  await promisify(execFile)('bash', [join(ROOT, 'scripts/netboot/build-test-boot.sh'), images], { timeout: 300_000 });
  const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const tftpRoot = join(work, 'tftpboot');
  try {
    await mkdir(tftpRoot);
    for (const f of ['pxelinux.0', 'ldlinux.c32']) await copyFile(join(images, f), join(tftpRoot, f));
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
  return { images, work, tftpRoot };
}

/**
 * Nova's deploy config for `mac` in the workspace's TFTP root (libs/pxe, as netboot's
 * prepare_deploy writes it), the test kernel and initramfs as every image, the serial console on.
 */
export async function prepareTestDeploy(
  w: BootWorkspace,
  o: { instanceUuid: string; nodeId: number; mac: string },
): Promise<void> {
  const kernel = join(w.images, 'vmlinuz');
  const initramfs = join(w.images, 'initrd.gz');
  await new PxeLayout(w.tftpRoot).prepare({
    instanceUuid: o.instanceUuid,
    nodeId: o.nodeId,
    deployKey: generateDeployKey(),
    macs: [o.mac],
    appendParams: 'console=ttyS0 panic=1 quiet',
    images: { kernel, ramdisk: initramfs, deploy_kernel: kernel, deploy_ramdisk: initramfs },
  });
}
