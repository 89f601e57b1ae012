import { randomInt, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, type RunningProgram } from '@bm/exec';
import { freeTcpPort } from './ports';

/**
 * A real iSCSI target for peer tests: tgtd (Debian's tgt) on 127.0.0.1:<free port> with its own
 * control port (`-C`, so it never touches a system tgtd), one sparse file-backed LUN 1 under the
 * seed's IQN `iqn-<uuid>`, bound to every initiator, optionally with a CHAP account. Root only.
 *
 * Note: tgtadm takes a CHAP password only on its command line; it runs for milliseconds, before
 * any initiator logs in (this is test scaffolding, not the product).
 */
export interface TgtTarget {
  address: string;
  port: number;
  iqn: string;
  lun: number;
  /** The LUN's backing file (read it after the initiator detached). */
  backingFile: string;
  sizeBytes: number;
  chap?: { user: string; password: string };
  /** tgtd's pid. */
  pid: number | undefined;
  /** Runs `tgtadm -C <control port> …` against this tgtd. */
  tgtadm(args: string[]): Promise<string>;
  /** Kills tgtd (it ignores SIGTERM while it has targets), waits for it, removes its files. */
  stop(): Promise<void>;
}

export interface StartTgtOptions {
  sizeBytes?: number;
  chap?: { user: string; password: string };
  iqn?: string;
}

const runner = new CommandRunner();

async function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createConnection(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

export async function startTgt(o: StartTgtOptions = {}): Promise<TgtTarget> {
  if (process.getuid?.() !== 0) throw new Error('tgtd tests need root (CI runs as root)');
  const dir = await mkdtemp(join(tmpdir(), 'bm-tgt-'));
  const backingFile = join(dir, 'lun1.img');
  const sizeBytes = o.sizeBytes ?? 64 * 1024 * 1024;
  await writeFile(backingFile, '');
  await truncate(backingFile, sizeBytes); // sparse
  const log = join(dir, 'tgtd.log');
  const iqn = o.iqn ?? `iqn-${randomUUID()}`;

  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const control = randomInt(1_000, 32_767); // tgtd takes -C up to 32767
    const port = await freeTcpPort();
    const fd = openSync(log, 'a');
    let tgtd: RunningProgram;
    try {
      tgtd = await runner.start('tgtd', ['-f', '-C', String(control), '--iscsi', `portal=127.0.0.1:${port}`], {
        logFd: fd,
      });
    } finally {
      closeSync(fd);
    }
    const tgtadm = async (args: string[]): Promise<string> =>
      (await runner.check('tgtadm', ['-C', String(control), '--lld', 'iscsi', ...args], { timeoutMs: 10_000 })).stdout;
    const stop = async (): Promise<void> => {
      await tgtd.stop(300);
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (!tgtd.isRunning()) throw new Error(`tgtd exited: ${(await readFile(log, 'utf8')).slice(-500)}`);
        const up = await runner.run('tgtadm', ['-C', String(control), '--mode', 'sys', '--op', 'show']);
        if (up.code === 0 && (await listening(port))) break;
        if (Date.now() > deadline)
          throw new Error(`tgtd did not come up: ${(await readFile(log, 'utf8')).slice(-500)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await tgtadm(['--mode', 'target', '--op', 'new', '--tid', '1', '--targetname', iqn]);
      await tgtadm(['--mode', 'logicalunit', '--op', 'new', '--tid', '1', '--lun', '1', '-b', backingFile]);
      await tgtadm(['--mode', 'target', '--op', 'bind', '--tid', '1', '-I', 'ALL']);
      if (o.chap) {
        await tgtadm(['--mode', 'account', '--op', 'new', '--user', o.chap.user, '--password', o.chap.password]);
        await tgtadm(['--mode', 'account', '--op', 'bind', '--tid', '1', '--user', o.chap.user]);
      }
      return {
        address: '127.0.0.1',
        port,
        iqn,
        lun: 1,
        backingFile,
        sizeBytes,
        chap: o.chap,
        pid: tgtd.pid,
        tgtadm,
        stop,
      };
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      await tgtd.stop(300);
      if (!tgtd.isRunning() && /another tgtd|Address already in use|did not come up/.test(lastError)) continue;
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`cannot start tgtd: ${lastError}`);
}
