/**
 * A tgtd of our own (Debian's tgt) for the lab's simulated nodes and for the tests. apps/lab-nodes
 * runs one for its whole fleet: every simulated node exports its disk file as LUN 1 of a target of
 * its own (`tgtadm target new --targetname <the deploy's IQN>`, `logicalunit new --lun 1
 * --backing-store <disk>`, `target bind --initiator-address ALL`: the seed's ramdisk, no auth),
 * and deletes it once `done` came (or the node was powered off).
 *
 * tgtd's quirks, as test/support/deploy-ramdisk.ts found them:
 * - its control socket is the file /var/run/tgtd/socket.<control port> (+ `.lock`), shared by every
 *   network namespace: so tgtd gets a random control port (`-C`), and is ready only once it holds
 *   that port's lock (/proc/locks) and answers tgtadm (tgtadm alone could reach another tgtd that
 *   has the port, while ours exits with "another tgtd is using …"); the files are removed after;
 * - it ignores SIGTERM: it is stopped with `tgtadm --mode system --op delete`, then SIGKILL;
 * - `-f` keeps it in the foreground, a child of this process.
 * Root only.
 */
import { randomInt } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, type RunningProgram } from '@bm/exec';

export interface TgtdOptions {
  /** `--iscsi portal=<address>:<port>` (default 0.0.0.0:3260: every address of the fleet's namespace). */
  portalAddress?: string;
  portalPort?: number;
  runner?: CommandRunner;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether process `pid` holds a POSIX lock on the file with inode `inode` (a /proc/locks line). */
export function holdsLock(procLocks: string, pid: number, inode: number): boolean {
  return procLocks.split('\n').some((line) => {
    // "1: POSIX  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" (a "->" marks a blocked waiter)
    const f = line.trim().split(/\s+/);
    const o = f[1] === '->' ? 1 : 0;
    return Number(f[4 + o]) === pid && Number((f[5 + o] ?? '').split(':')[2]) === inode;
  });
}

export class Tgtd {
  /** Set once this tgtd held its control port: only then are the socket files ours to remove. */
  private owned = false;

  private constructor(
    private readonly program: RunningProgram,
    private readonly runner: CommandRunner,
    /** tgtd's control port (`tgtadm -C`). */
    readonly controlPort: number,
    readonly portal: { address: string; port: number },
    private readonly dir: string,
  ) {}

  /** Starts tgtd; tries other control ports when one is in use. Rejects with tgtd's log when it cannot start. */
  static async start(o: TgtdOptions = {}): Promise<Tgtd> {
    const runner = o.runner ?? new CommandRunner();
    const portal = { address: o.portalAddress ?? '0.0.0.0', port: o.portalPort ?? 3260 };
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'bm-lab-tgtd-'));
      const controlPort = randomInt(1_000, 32_767); // tgtd takes -C up to 32767
      const log = join(dir, 'tgtd.log');
      const fd = openSync(log, 'a');
      let program: RunningProgram;
      try {
        program = await runner.start(
          'tgtd',
          ['-f', '-C', String(controlPort), '--iscsi', `portal=${portal.address}:${portal.port}`],
          { logFd: fd },
        );
      } finally {
        closeSync(fd);
      }
      const tgtd = new Tgtd(program, runner, controlPort, portal, dir);
      const ready = await tgtd.waitReady(log);
      if (ready === true) return tgtd;
      last = ready;
      await tgtd.stop();
      if (!/another tgtd|did not answer/.test(last)) break;
    }
    throw new Error(`tgtd did not start: ${last}`);
  }

  /** true once ours answers holding its control port's lock; else what went wrong. */
  private async waitReady(log: string): Promise<true | string> {
    const lock = `/var/run/tgtd/socket.${this.controlPort}.lock`;
    const deadline = Date.now() + 10_000;
    const tail = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' / ');
    for (;;) {
      if (!this.program.isRunning()) return `tgtd exited: ${await tail()}`;
      const inode = await stat(lock).then(
        (s) => s.ino,
        () => undefined,
      );
      const mine =
        inode !== undefined && holdsLock(await readFile('/proc/locks', 'utf8'), this.program.pid ?? -1, inode);
      if (mine) {
        this.owned = true;
        const up = await this.runner.run('tgtadm', ['-C', String(this.controlPort), '--mode', 'sys', '--op', 'show']);
        if (up.code === 0) {
          const text = await tail();
          return /Address already in use/.test(text) ? `tgtd cannot listen on its portal: ${text}` : true;
        }
      }
      if (Date.now() > deadline) return `tgtd did not answer in 10 s: ${await tail()}`;
      await sleep(50);
    }
  }

  get pid(): number | undefined {
    return this.program.pid;
  }

  /** `tgtadm -C <control port> --lld iscsi …`; rejects with its message on a non-zero exit. */
  async tgtadm(args: string[]): Promise<string> {
    return (
      await this.runner.check('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], {
        timeoutMs: 10_000,
      })
    ).stdout;
  }

  /** Target `tid` named `iqn`, LUN 1 backed by `backingFile`, open to every initiator (the seed's start_iscsi_target). */
  async export(tid: number, iqn: string, backingFile: string): Promise<void> {
    await this.tgtadm(['--mode', 'target', '--op', 'new', '--tid', String(tid), '--targetname', iqn]);
    try {
      await this.tgtadm([
        '--mode',
        'logicalunit',
        '--op',
        'new',
        '--tid',
        String(tid),
        '--lun',
        '1',
        '--backing-store',
        backingFile,
      ]);
      await this.tgtadm(['--mode', 'target', '--op', 'bind', '--tid', String(tid), '--initiator-address', 'ALL']);
    } catch (e) {
      await this.unexport(tid, true).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The seed's stop_iscsi_target for one node: LUN 1, then the target. `force` takes the target
   * down even with an initiator logged in (a node powered off mid-deploy). A target that is not
   * there is fine.
   */
  async unexport(tid: number, force = false): Promise<void> {
    const gone = (e: unknown) => /can't find the target|No such/i.test((e as Error).message);
    if (!force) {
      await this.tgtadm(['--mode', 'logicalunit', '--op', 'delete', '--tid', String(tid), '--lun', '1']).catch(
        (e: unknown) => {
          if (!gone(e)) throw e;
        },
      );
    }
    await this.tgtadm([
      '--mode',
      'target',
      '--op',
      'delete',
      ...(force ? ['--force'] : []),
      '--tid',
      String(tid),
    ]).catch((e: unknown) => {
      if (!gone(e)) throw e;
    });
  }

  /**
   * Stops tgtd and removes its control socket files and log: a system delete (refused while it
   * has targets), else SIGKILL (it ignores SIGTERM).
   */
  async stop(): Promise<void> {
    if (this.program.isRunning()) {
      const deleted = await this.runner
        .run('tgtadm', ['-C', String(this.controlPort), '--mode', 'system', '--op', 'delete'], {
          timeoutMs: 5_000,
        })
        .then(
          (r) => r.code === 0,
          () => false,
        );
      if (deleted) await Promise.race([this.program.exited, sleep(2_000)]);
      await this.program.stop(100); // SIGTERM, ignored: SIGKILL after 100 ms
    }
    if (this.owned) {
      const socket = `/var/run/tgtd/socket.${this.controlPort}`;
      await Promise.all([rm(socket, { force: true }), rm(`${socket}.lock`, { force: true })]);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
