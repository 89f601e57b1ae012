import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Clock, systemClock } from '@bm/core';
import { CommandFailed, type CommandRunner, type RunningProgram } from '@bm/exec';
import {
  IscsiAttachFailed,
  IscsiDetachFailed,
  IscsiLoginFailed,
  IscsiSessionLost,
  IscsiTargetNotFound,
  IscsiTargetUnreachable,
} from './errors';
import { storageDaemons } from './orphans';
import {
  type AttachedLun,
  type IscsiAttacher,
  type IscsiTarget,
  describeTarget,
  portalOf,
  scrub,
  validateTarget,
} from './target';

export const DEFAULT_INITIATOR_NAME = 'iqn.2013-10.org.openstack.nova-bm:deploy-helper';

export interface UserspaceAttacherOptions {
  /** The initiator IQN sent at login. */
  initiatorName?: string;
  /** Where the private temp dirs go (default: os.tmpdir()). */
  tmpRoot?: string;
  /** How long the daemon may take to log in and export the LUN (default 20 s). */
  readyTimeoutMs?: number;
  /** libiscsi's per-request timeout in seconds once attached (0 = none; default 60). */
  requestTimeoutSec?: number;
  /** SIGTERM-to-SIGKILL grace when stopping the daemon (default 5 s). */
  stopGraceMs?: number;
  /**
   * How long the attached daemon may go without a TCP connection to the portal before the session
   * counts as lost (default 30 s; 0 = never). libiscsi reconnects forever and holds the I/O
   * meanwhile, so a target that vanished (ramdisk gone, tgtd killed, target deleted) would hang
   * every read and write: this is the kernel initiator's replacement_timeout. The daemon is then
   * stopped (the I/O waiting fails) and `lost` says why.
   */
  sessionLossTimeoutMs?: number;
  /** How often the daemon's connection is looked at (default 1 s). */
  sessionCheckMs?: number;
  /** The process table the connection is read from (default /proc). */
  procRoot?: string;
  pollMs?: number;
  clock?: Clock;
  /** The mount table to read (default /proc/self/mountinfo). */
  mountinfo?: string;
  /** The daemon program (default qemu-storage-daemon). */
  program?: string;
}

/** Doubles commas: QEMU's option syntax for a literal comma in a value. */
function q(value: string): string {
  return value.replace(/,/g, ',,');
}

/**
 * qemu-storage-daemon's argv for a target: the iSCSI blockdev (libiscsi) exported as a FUSE
 * regular file at `mountpoint`. The CHAP password is never here: only the id of a secret object
 * read from `secretFile` (mode 0600, in a private dir).
 */
export function storageDaemonArgs(
  t: IscsiTarget,
  mountpoint: string,
  o: { initiatorName: string; requestTimeoutSec: number; secretFile?: string },
): string[] {
  const args: string[] = [];
  const blockdev = [
    'driver=iscsi',
    'node-name=lun',
    'transport=tcp',
    `portal=${q(portalOf(t))}`,
    `target=${q(t.iqn)}`,
    `lun=${t.lun}`,
    `initiator-name=${q(o.initiatorName)}`,
  ];
  if (t.chap) {
    if (!o.secretFile) throw new Error('storageDaemonArgs: CHAP needs a secret file');
    args.push('--object', `secret,id=chap0,format=raw,file=${q(o.secretFile)}`);
    blockdev.push(`user=${q(t.chap.user)}`, 'password-secret=chap0');
  }
  if (o.requestTimeoutSec > 0) blockdev.push(`timeout=${o.requestTimeoutSec}`);
  args.push('--blockdev', blockdev.join(','));
  args.push('--export', `type=fuse,id=lun0,node-name=lun,mountpoint=${q(mountpoint)},writable=on`);
  return args;
}

/** The error for a daemon that exited before its export was ready, from its log. */
export function storageDaemonError(t: IscsiTarget, log: string, exit: string): Error {
  const lines = scrub(log, t.chap)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.find((l) => l.includes('iSCSI:')) ?? lines[lines.length - 1] ?? '';
  const reason = line.includes('iSCSI:') ? line.slice(line.indexOf('iSCSI:')) : line || `exited (${exit})`;
  const what = `${describeTarget(t)}: ${reason}`;
  if (/Authentication failure|authoriz|CHAP/i.test(reason)) return new IscsiLoginFailed(`login refused: ${what}`);
  if (/Target not found|LOGICAL_UNIT_NOT_SUPPORTED|not found/i.test(reason)) {
    return new IscsiTargetNotFound(`no such target or LUN: ${what}`);
  }
  if (/reconnect|refused|No route|unreachable|timed? ?out|Failed to connect|resolve|Name or service/i.test(reason)) {
    return new IscsiTargetUnreachable(`cannot connect: ${what}`);
  }
  return new IscsiAttachFailed(`qemu-storage-daemon failed: ${what}`);
}

/** The mount points of a mountinfo text (field 5, octal escapes decoded). */
export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => mp !== undefined)
    .map((mp) => mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Whether `path` is a mount point in the given mountinfo text. */
export function isMountPoint(mountinfo: string, path: string): boolean {
  return mountPoints(mountinfo).includes(path);
}

/**
 * Whether a /proc/net/tcp or tcp6 table has an ESTABLISHED connection (state 01) to remote port
 * `port` on one of the sockets `inodes`.
 */
export function establishedTo(table: string, port: number, inodes: ReadonlySet<string>): boolean {
  return table
    .split('\n')
    .slice(1)
    .some((line) => {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      return f.length > 9 && f[3] === '01' && parseInt(f[2].split(':')[1] ?? '', 16) === port && inodes.has(f[9]);
    });
}

/**
 * Whether process `pid` holds an established TCP connection to remote port `port` (its own
 * sockets, in its own network namespace); undefined when that cannot be read (the process is gone).
 */
export async function hasTcpConnection(pid: number, port: number, procRoot = '/proc'): Promise<boolean | undefined> {
  const dir = join(procRoot, String(pid));
  let inodes: Set<string>;
  try {
    const fds = await readdir(join(dir, 'fd'));
    const links = await Promise.all(fds.map((fd) => readlink(join(dir, 'fd', fd)).catch(() => '')));
    inodes = new Set(links.map((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1]).filter((i): i is string => !!i));
  } catch {
    return undefined;
  }
  const tables = await Promise.all(['tcp', 'tcp6'].map((t) => readFile(join(dir, 'net', t), 'utf8').catch(() => '')));
  return tables.some((table) => establishedTo(table, port, inodes));
}

/**
 * The userspace initiator: qemu-storage-daemon logs in with libiscsi and exports the LUN over
 * FUSE as a regular file in a private temp dir (no kernel iSCSI, no root-only device nodes).
 * Works where the kernel has no iscsi_tcp (containers, Firecracker guests).
 */
export class UserspaceAttacher implements IscsiAttacher {
  readonly kind = 'userspace' as const;
  private readonly o: Required<Omit<UserspaceAttacherOptions, 'tmpRoot'>> & { tmpRoot?: string };

  constructor(
    private readonly runner: CommandRunner,
    options: UserspaceAttacherOptions = {},
  ) {
    this.o = {
      initiatorName: DEFAULT_INITIATOR_NAME,
      readyTimeoutMs: 20_000,
      requestTimeoutSec: 60,
      stopGraceMs: 5_000,
      sessionLossTimeoutMs: 30_000,
      sessionCheckMs: 1_000,
      procRoot: '/proc',
      pollMs: 25,
      clock: systemClock,
      mountinfo: '/proc/self/mountinfo',
      program: 'qemu-storage-daemon',
      ...options,
    };
  }

  async attach(target: IscsiTarget): Promise<AttachedLun> {
    const t = validateTarget(target);
    const dir = await mkdtemp(join(this.o.tmpRoot ?? tmpdir(), 'bm-iscsi-')); // mode 0700
    const path = join(dir, 'lun.raw');
    const secretFile = t.chap ? join(dir, 'chap.secret') : undefined;
    let daemon: RunningProgram | undefined;
    try {
      await writeFile(path, '', { mode: 0o600 });
      if (secretFile && t.chap) await writeFile(secretFile, t.chap.password, { mode: 0o600, flag: 'wx' });
      const args = storageDaemonArgs(t, path, { ...this.o, secretFile });
      const logFd = openSync(join(dir, 'daemon.log'), 'a', 0o600);
      try {
        daemon = await this.runner.start(this.o.program, args, { logFd });
      } catch (e) {
        const why = e instanceof CommandFailed ? e.message : String(e);
        throw new IscsiAttachFailed(`${describeTarget(t)}: cannot start ${this.o.program}: ${why}`);
      } finally {
        closeSync(logFd);
      }
      await this.waitReady(t, daemon, dir, path);
      if (secretFile) await rm(secretFile, { force: true }); // read at start-up; not needed any more
      const sizeBytes = (await stat(path)).size;
      const lun = new UserspaceLun(t, path, sizeBytes, daemon, () => this.cleanUp(daemon, dir, path));
      if (this.o.sessionLossTimeoutMs > 0) void lun.watch(daemon, this.o);
      return lun;
    } catch (e) {
      await this.cleanUp(daemon, dir, path).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The start-up sweep: what a deploy helper that died without detaching left behind. A storage
   * daemon whose deploy helper no longer runs (killed by the OOM killer, or SIGKILLed outside a
   * supervisor that kills its whole group) holds its export, and, its target gone, any write
   * into it for ever (the dead helper stays a zombie, stuck in that write). Each such daemon is
   * killed (which aborts its FUSE connection and frees the stuck writer), its export unmounted
   * and its private dir removed; so is an export under `bm-iscsi-*` whose daemon is gone. The
   * daemons of deploy helpers still running are left alone. Returns one line per thing swept.
   */
  async sweepOrphans(): Promise<string[]> {
    const root = this.o.tmpRoot ?? tmpdir();
    const swept: string[] = [];
    const daemons = await storageDaemons(this.o.procRoot, this.o.program, root);
    for (const d of daemons.filter((x) => x.orphaned)) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      const until = this.o.clock.now() + 5_000;
      while (
        this.o.clock.now() < until &&
        (await readFile(join(this.o.procRoot, String(d.pid), 'status'), 'utf8').then(
          (st) => !/^State:\s+Z/m.test(st),
          () => false,
        ))
      )
        await this.o.clock.sleep(this.o.pollMs);
      await this.cleanUp(undefined, dirname(d.mountpoint), d.mountpoint);
      swept.push(`qemu-storage-daemon ${d.pid} (its deploy helper ${d.ppid} gone) exporting ${d.mountpoint}: killed`);
    }
    const served = new Set(daemons.filter((x) => !x.orphaned).map((x) => x.mountpoint));
    const prefix = join(root, 'bm-iscsi-');
    const left = mountPoints(await readFile(this.o.mountinfo, 'utf8')).filter(
      (mp) => mp.startsWith(prefix) && mp.endsWith('/lun.raw') && !served.has(mp),
    );
    for (const mp of left) {
      await this.cleanUp(undefined, dirname(mp), mp);
      swept.push(`export ${mp} without its daemon: unmounted`);
    }
    return swept;
  }

  private async mounted(path: string): Promise<boolean> {
    return isMountPoint(await readFile(this.o.mountinfo, 'utf8'), path);
  }

  /** Until the FUSE export is mounted; the daemon's exit, or the deadline, is an error. */
  private async waitReady(t: IscsiTarget, daemon: RunningProgram, dir: string, path: string): Promise<void> {
    const deadline = this.o.clock.now() + this.o.readyTimeoutMs;
    for (;;) {
      if (!daemon.isRunning()) {
        const { code, signal } = await daemon.exited;
        const log = await readFile(join(dir, 'daemon.log'), 'utf8').catch(() => '');
        throw storageDaemonError(t, log, `exit status ${code ?? signal}`);
      }
      if (await this.mounted(path)) return;
      if (this.o.clock.now() >= deadline) {
        throw new IscsiTargetUnreachable(
          `${describeTarget(t)}: qemu-storage-daemon did not log in and export within ${this.o.readyTimeoutMs} ms`,
        );
      }
      await this.o.clock.sleep(this.o.pollMs);
    }
  }

  /** Stops the daemon, removes a mount it left (it was killed, or died) and the private dir. */
  private async cleanUp(daemon: RunningProgram | undefined, dir: string, path: string): Promise<void> {
    await daemon?.stop(this.o.stopGraceMs);
    if (await this.mounted(path)) {
      const r = await this.runner.run('fusermount3', ['-u', '-z', path]).catch(() => undefined);
      if (r?.code !== 0 || (await this.mounted(path))) {
        const u = await this.runner.run('umount', ['-l', path]).catch(() => undefined);
        if (u?.code !== 0 && (await this.mounted(path))) {
          throw new IscsiDetachFailed(`cannot unmount the FUSE export ${path}: ${u?.stderr.trim() ?? 'umount failed'}`);
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

class UserspaceLun implements AttachedLun {
  readonly lost: Promise<Error>;
  private detaching: Promise<void> | undefined;
  private loseSession!: (e: Error) => void;

  constructor(
    private readonly target: IscsiTarget,
    readonly path: string,
    readonly sizeBytes: number,
    daemon: RunningProgram,
    private readonly cleanUp: () => Promise<void>,
  ) {
    this.lost = new Promise((resolve) => {
      this.loseSession = resolve;
      void daemon.exited.then(({ code, signal }) => {
        if (this.detaching) return;
        resolve(
          new IscsiSessionLost(
            `${describeTarget(target)}: qemu-storage-daemon exited (${code ?? signal}) while attached at ${path}`,
          ),
        );
      });
    });
  }

  /**
   * Until detached or the daemon is gone: a daemon without a connection to the portal for
   * `sessionLossTimeoutMs` has lost its session; `lost` says so, then the daemon is stopped.
   */
  async watch(
    daemon: RunningProgram,
    o: Pick<Required<UserspaceAttacherOptions>, 'clock' | 'sessionLossTimeoutMs' | 'sessionCheckMs' | 'procRoot'>,
  ): Promise<void> {
    let downSince: number | undefined;
    while (!this.detaching && daemon.isRunning() && daemon.pid !== undefined) {
      await o.clock.sleep(o.sessionCheckMs);
      if (this.detaching || !daemon.isRunning()) return;
      const connected = await hasTcpConnection(daemon.pid, this.target.port, o.procRoot);
      if (connected !== false) {
        downSince = undefined;
        continue;
      }
      downSince ??= o.clock.now();
      if (o.clock.now() - downSince >= o.sessionLossTimeoutMs) {
        this.loseSession(
          new IscsiSessionLost(
            `${describeTarget(this.target)}: no connection to the target for ${o.sessionLossTimeoutMs} ms ` +
              `(target gone or unreachable); qemu-storage-daemon stopped, I/O on ${this.path} fails`,
          ),
        );
        await daemon.stop(0); // SIGKILL: a graceful stop would wait for the I/O held for the dead session
        return;
      }
    }
  }

  detach(): Promise<void> {
    return (this.detaching ??= this.cleanUp());
  }
}
