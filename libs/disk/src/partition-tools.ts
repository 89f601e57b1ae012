/**
 * The rest of the seed's deploy steps on the partitions (deploy_helper.py: `mkswap -L swap1`,
 * `mkfs -t ext3 -F -L ephemeral0` unless preserve_ephemeral, `blkid -s UUID -o value` of root),
 * on a partition given as a byte range of a disk FILE (a FUSE-exported LUN) or block device: the
 * lab kernel scans no partition tables, so there is no `-part1` device. No loop devices:
 *
 * - mkswap (util-linux 2.38 has no `--offset`; 2.39 added it): mkswap formats a sparse temporary
 *   file of the partition's size, and its first page (the header: version, last page, UUID,
 *   label) is copied to the partition's start; the rest of the partition's first MiB is zeroed so
 *   no older signature (ext*, xfs, btrfs at 64 KiB…) is left for blkid to find. The resulting
 *   bytes are what mkswap would write on a partition device (it writes only that first page).
 * - mkfsEphemeral: `mke2fs -t <ext2|ext3|ext4> -F -L <label> -E offset=<bytes>,nodiscard <target>
 *   <KiB>k`; other filesystems have no offset option and are refused. `nodiscard`: on a regular
 *   file mke2fs punches the range and, trusting it to read back as zeros, skips wiping the inode
 *   tables; qemu-storage-daemon's FUSE export acknowledges the punch but leaves the data (its
 *   blockdev ignores discards), so an older filesystem's inodes survived and mke2fs failed
 *   ("File exists while trying to create journal") on a disk that had been deployed before.
 * - rootUuid: `blkid -p -O <offset> [-S <size>] -s UUID -o value <target>` (low-level probe; no
 *   blkid cache).
 *
 * Every program runs through the CommandRunner.
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FieldProblem } from '@bm/core';
import { CommandFailed, type CommandRunner } from '@bm/exec';
import { FilesystemNotFound, InvalidDiskParameter } from './errors';

const MIB = 1024 * 1024;
const E2FS_TYPES = ['ext2', 'ext3', 'ext4'] as const;
export type EphemeralFsType = (typeof E2FS_TYPES)[number];

export interface PartitionToolsOptions {
  /** Swap page size written into the header (default 4096, x86_64's). */
  pageSize?: number;
  /** Where mkswap's temporary file goes (default the OS temp dir). */
  tmpDir?: string;
  /** Per program run (default 10 min: mke2fs on a large partition takes a while). */
  timeoutMs?: number;
  /** Program names (default from $PATH). */
  mkswap?: string;
  mke2fs?: string;
  blkid?: string;
}

export class PartitionTools {
  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: PartitionToolsOptions = {},
  ) {}

  /**
   * `mkswap -L <label>` on the partition `[offset, offset + size)` of `target`; returns the swap
   * area's UUID (from mkswap's output).
   */
  async mkswap(target: string, offset: number, size: number, label = 'swap1'): Promise<{ uuid: string }> {
    const pageSize = this.opts.pageSize ?? 4096;
    await checkPartition(target, offset, size, pageSize * 10);
    const dir = await mkdtemp(join(this.opts.tmpDir ?? tmpdir(), 'bm-mkswap-'));
    try {
      const tmp = join(dir, 'swap');
      const t = await open(tmp, 'wx', 0o600);
      await t.truncate(size).finally(() => t.close());
      const r = await this.runner.check(this.opts.mkswap ?? 'mkswap', ['-L', label, '-p', String(pageSize), tmp], {
        timeoutMs: this.timeout(),
      });
      const region = Buffer.alloc(Math.min(size, MIB));
      const src = await open(tmp, 'r');
      try {
        await src.read(region, 0, pageSize, 0);
      } finally {
        await src.close();
      }
      await writeAt(target, region, offset);
      return { uuid: /UUID=([0-9a-fA-F-]+)/.exec(r.stdout)?.[1] ?? '' };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** `mke2fs -t <fsType> -F -L <label> -E offset=<offset>,nodiscard <target> <size/1024>k`. */
  async mkfsEphemeral(
    target: string,
    offset: number,
    size: number,
    fsType: string = 'ext3',
    label = 'ephemeral0',
  ): Promise<void> {
    if (!(E2FS_TYPES as readonly string[]).includes(fsType)) {
      throw new InvalidDiskParameter(
        [{ field: 'fsType', message: `must be one of ${E2FS_TYPES.join(', ')} (mke2fs -E offset), got ${fsType}` }],
        'Invalid ephemeral filesystem request',
      );
    }
    await checkPartition(target, offset, size, 1024, 1024);
    await this.runner.check(
      this.opts.mke2fs ?? 'mke2fs',
      ['-q', '-t', fsType, '-F', '-L', label, '-E', `offset=${offset},nodiscard`, resolve(target), `${size / 1024}k`],
      { timeoutMs: this.timeout() },
    );
  }

  /**
   * The UUID of the filesystem at `offset` of `target` (the root filesystem the image carries);
   * `size` bounds the probe to the partition. Throws FilesystemNotFound when blkid finds none.
   */
  async rootUuid(target: string, offset: number, size?: number): Promise<string> {
    const problems = rangeProblems(offset, size ?? 1, 1);
    if (problems.length) throw new InvalidDiskParameter(problems, 'Invalid partition');
    const args = ['-p', '-O', String(offset), ...(size === undefined ? [] : ['-S', String(size)])];
    const r = await this.runner.run(
      this.opts.blkid ?? 'blkid',
      [...args, '-s', 'UUID', '-o', 'value', resolve(target)],
      {
        timeoutMs: this.timeout(),
      },
    );
    const uuid = r.stdout.trim();
    // blkid exits 2 when it identifies nothing; an identified filesystem without a UUID prints nothing.
    if (r.code === 2 || (r.code === 0 && !uuid)) {
      throw new FilesystemNotFound(`no filesystem UUID found in ${target} at offset ${offset}`);
    }
    if (r.code !== 0) {
      const why = r.stderr.trim() || `exit status ${r.code ?? r.signal}`;
      throw new CommandFailed(this.opts.blkid ?? 'blkid', [...args, target], r, why);
    }
    return uuid;
  }

  private timeout(): number {
    return this.opts.timeoutMs ?? 600_000;
  }
}

function rangeProblems(offset: number, size: number, minSize: number, multipleOf = 1): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!Number.isSafeInteger(offset) || offset < 0) {
    problems.push({ field: 'offset', message: `must be an integer >= 0 (bytes), got ${offset}` });
  }
  if (!Number.isSafeInteger(size) || size < minSize || size % multipleOf !== 0) {
    const mult = multipleOf > 1 ? `, a multiple of ${multipleOf}` : '';
    problems.push({ field: 'size', message: `must be an integer >= ${minSize}${mult} (bytes), got ${size}` });
  }
  return problems;
}

/** Refuses bad numbers, and a range past the end of a regular file (a block device is not checked). */
async function checkPartition(
  target: string,
  offset: number,
  size: number,
  minSize: number,
  multipleOf = 1,
): Promise<void> {
  const problems = rangeProblems(offset, size, minSize, multipleOf);
  if (!problems.length) {
    const st = await stat(target);
    if (st.isFile() && offset + size > st.size) {
      problems.push({
        field: 'size',
        message: `partition [${offset}, ${offset + size}) ends past the end of ${target} (${st.size} bytes)`,
      });
    }
  }
  if (problems.length) throw new InvalidDiskParameter(problems, 'Invalid partition');
}

/** Writes `data` at `position` of an existing file or device, then fsyncs. */
async function writeAt(target: string, data: Buffer, position: number): Promise<void> {
  const fh = await open(target, 'r+');
  try {
    let at = 0;
    while (at < data.length) {
      const { bytesWritten } = await fh.write(data, at, data.length - at, position + at);
      at += bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
