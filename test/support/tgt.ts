import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tgtd } from '@bm/iscsi';
import { freeTcpPort } from './ports';

/**
 * A real iSCSI target for peer tests: a tgtd of our own (@bm/iscsi Tgtd: Debian's tgt, its own
 * control port so it never touches a system tgtd) on 127.0.0.1:<free port>, one sparse
 * file-backed LUN 1 under the seed's IQN `iqn-<uuid>`, bound to every initiator, optionally with
 * a CHAP account. Root only.
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
  /** Runs `tgtadm -C <control port> --lld iscsi …` against this tgtd. */
  tgtadm(args: string[]): Promise<string>;
  /** Stops tgtd (its targets with it) and removes the backing file. */
  stop(): Promise<void>;
}

export interface StartTgtOptions {
  sizeBytes?: number;
  chap?: { user: string; password: string };
  iqn?: string;
}

export async function startTgt(o: StartTgtOptions = {}): Promise<TgtTarget> {
  if (process.getuid?.() !== 0) throw new Error('tgtd tests need root (CI runs as root)');
  const dir = await mkdtemp(join(tmpdir(), 'bm-tgt-'));
  const backingFile = join(dir, 'lun1.img');
  const sizeBytes = o.sizeBytes ?? 64 * 1024 * 1024;
  await writeFile(backingFile, '');
  await truncate(backingFile, sizeBytes); // sparse
  const iqn = o.iqn ?? `iqn-${randomUUID()}`;
  const port = await freeTcpPort();
  let tgtd: Tgtd | undefined;
  try {
    tgtd = await Tgtd.start({ portalAddress: '127.0.0.1', portalPort: port });
    await tgtd.export(1, iqn, backingFile);
    if (o.chap) {
      await tgtd.tgtadm(['--mode', 'account', '--op', 'new', '--user', o.chap.user, '--password', o.chap.password]);
      await tgtd.tgtadm(['--mode', 'account', '--op', 'bind', '--tid', '1', '--user', o.chap.user]);
    }
  } catch (e) {
    await tgtd?.stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const t = tgtd;
  return {
    address: '127.0.0.1',
    port,
    iqn,
    lun: 1,
    backingFile,
    sizeBytes,
    chap: o.chap,
    pid: t.pid,
    tgtadm: (args) => t.tgtadm(args),
    stop: async () => {
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
