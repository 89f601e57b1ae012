/**
 * A simulated node's disk: a sparse file. What the deploy left on it is read the way firmware
 * and a booting kernel would find it, with the partition table (`sfdisk -J`) and a low-level
 * probe of each partition (`blkid -p -O <offset> -S <size>`), through libs/exec's CommandRunner.
 */
import { statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { CommandRunner } from '@bm/exec';

const SECTOR = 512;

/** Makes `file` a (sparse) disk of `sizeBytes` if it is missing or smaller; returns its size. */
export async function ensureDisk(file: string, sizeBytes: number): Promise<number> {
  const f = await open(file, 'a');
  try {
    const { size } = await f.stat();
    if (size < sizeBytes) await f.truncate(sizeBytes);
  } finally {
    await f.close();
  }
  return (await stat(file)).size;
}

/** Bytes of the file actually written (allocated blocks), 0 when it cannot be read. */
export function allocatedBytes(file: string): number {
  try {
    return statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}

export interface DiskPartition {
  /** 1-based. */
  number: number;
  offsetBytes: number;
  sizeBytes: number;
  /** blkid's TYPE (ext4, swap…), when it recognises something. */
  type?: string;
  uuid?: string;
  label?: string;
}

/** `sfdisk -J` output → partitions (offsets in bytes); [] for a disk without a table. */
export function partitionsOf(sfdiskJson: string): Omit<DiskPartition, 'type' | 'uuid' | 'label'>[] {
  const t = JSON.parse(sfdiskJson) as {
    partitiontable?: { sectorsize?: number; partitions?: { node: string; start: number; size: number }[] };
  };
  const sector = t.partitiontable?.sectorsize ?? SECTOR;
  return (t.partitiontable?.partitions ?? []).map((p, i) => ({
    number: Number(/(\d+)$/.exec(p.node)?.[1] ?? i + 1),
    offsetBytes: p.start * sector,
    sizeBytes: p.size * sector,
  }));
}

/** `blkid -o export` output → its fields. */
export function blkidFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** The partitions of the disk file, each probed; [] when it has no partition table. */
export async function probeDisk(runner: CommandRunner, file: string): Promise<DiskPartition[]> {
  const table = await runner.run('sfdisk', ['-J', file], { timeoutMs: 30_000 });
  if (table.code !== 0) {
    if (/does not contain a recognized partition table/i.test(table.stderr)) return [];
    throw new Error(`sfdisk -J ${file}: ${table.stderr.trim() || `exit ${table.code}`}`);
  }
  const parts: DiskPartition[] = [];
  for (const p of partitionsOf(table.stdout)) {
    const r = await runner.run(
      'blkid',
      ['-p', '-O', String(p.offsetBytes), '-S', String(p.sizeBytes), '-o', 'export', file],
      { timeoutMs: 30_000 },
    );
    // blkid exits 2 when it recognises nothing there.
    const f = r.code === 0 ? blkidFields(r.stdout) : {};
    parts.push({
      ...p,
      ...(f.TYPE ? { type: f.TYPE } : {}),
      ...(f.UUID ? { uuid: f.UUID } : {}),
      ...(f.LABEL ? { label: f.LABEL } : {}),
    });
  }
  return parts;
}

/**
 * The root partition of a deployed disk: the one filesystem that is neither swap nor the
 * deploy's ephemeral partition (label `ephemeral0`), or undefined when there is not exactly one.
 */
export function rootPartition(parts: DiskPartition[]): DiskPartition | undefined {
  const candidates = parts.filter((p) => p.uuid && p.type !== 'swap' && p.label !== 'ephemeral0');
  return candidates.length === 1 ? candidates[0] : undefined;
}
