import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** A qemu-storage-daemon exporting a LUN under one of our private `bm-iscsi-*` dirs. */
export interface StorageDaemonProcess {
  pid: number;
  ppid: number;
  /** The FUSE export's mount point (`…/bm-iscsi-XXXX/lun.raw`). */
  mountpoint: string;
  /** Its parent no longer runs: gone (reparented), not a Node process, or a zombie leader. */
  orphaned: boolean;
}

/**
 * `/proc/PID/status`'s PPid. Not `stat`: reading the stat of a process stuck in the kernel (a
 * writer whose block device went away) blocks the reader as well; status answers.
 */
export function parentOf(status: string): number | undefined {
  const m = /^PPid:\s+(\d+)$/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** The `mountpoint=` of a `--export type=fuse,…` argument (QEMU's doubled commas undone). */
export function exportMountpoint(args: string[]): string | undefined {
  const exp = args.find((a) => a.startsWith('type=fuse,'));
  const m = exp && /(?:^|,)mountpoint=((?:[^,]|,,)*)/.exec(exp);
  return m ? m[1].replace(/,,/g, ',') : undefined;
}

const SIGKILL_BIT = 1n << 8n; // signal 9

/**
 * A `/proc/PID/status` of a process on its way out: a zombie leader (threads left stuck), or
 * one with SIGKILL pending (a thread stuck in an uninterruptible wait has not taken it yet).
 */
export function dying(status: string): boolean {
  if (/^State:\s+Z/m.test(status)) return true;
  return ['ShdPnd', 'SigPnd'].some((f) => {
    const hex = new RegExp(`^${f}:\\s+([0-9a-f]+)`, 'm').exec(status)?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) & SIGKILL_BIT) !== 0n;
  });
}

async function readProc(procRoot: string, pid: number, file: string): Promise<string | undefined> {
  return readFile(join(procRoot, String(pid), file), 'utf8').catch(() => undefined);
}

/**
 * The storage daemons (`program`) whose FUSE export lies in a `bm-iscsi-*` dir under `tmpRoot`.
 * One is orphaned when the deploy helper that started it is no longer running: its parent is
 * init or a subreaper (not `node`), or a zombie whose last threads are stuck (a SIGKILLed helper
 * whose write into the export never returned, because this very daemon lost its target).
 */
export async function storageDaemons(
  procRoot: string,
  program: string,
  tmpRoot: string,
): Promise<StorageDaemonProcess[]> {
  const prefix = join(tmpRoot, 'bm-iscsi-');
  const pids = (await readdir(procRoot).catch(() => [] as string[])).filter((d) => /^[0-9]+$/.test(d)).map(Number);
  const found: StorageDaemonProcess[] = [];
  for (const pid of pids) {
    const cmdline = await readProc(procRoot, pid, 'cmdline');
    if (!cmdline) continue;
    const argv = cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    if (basename(argv[0] ?? '') !== basename(program)) continue;
    const mountpoint = exportMountpoint(argv.slice(1));
    if (!mountpoint?.startsWith(prefix)) continue;
    const ppid = parentOf((await readProc(procRoot, pid, 'status')) ?? '');
    if (ppid === undefined) continue;
    const parentComm = (await readProc(procRoot, ppid, 'comm'))?.trim();
    const status = (await readProc(procRoot, ppid, 'status')) ?? '';
    const orphaned = ppid === 1 || parentComm !== 'node' || dying(status);
    found.push({ pid, ppid, mountpoint, orphaned });
  }
  return found;
}
