/**
 * Writes a PartitionLayout to a disk (a block device or a plain file) with util-linux sfdisk and
 * reads partition tables back with `sfdisk -J`, through the project's CommandRunner (no shell,
 * the script on stdin). The kernel is never asked to re-read the table (`--no-reread
 * --no-tell-kernel`): on the lab machines it cannot scan partitions, and the deploy writes
 * through offsets or `partx -a`.
 */
import { type Clock, systemClock } from '@bm/core';
import { CommandFailed, type CommandRunner, type RunResult } from '@bm/exec';
import { UnreadablePartitionTable } from './errors';
import { type PartitionLayout, type PartitionTableType, sfdiskScript } from './layout';

/** A partition as read back from the disk. */
export interface ReadPartition {
  number: number;
  startSector: number;
  sizeSectors: number;
  /** msdos id in lower case without 0x ('83'), or GPT type GUID in upper case. */
  type: string;
}

/** A partition table as read back from the disk (`sfdisk -J`). */
export interface PartitionTable {
  table: PartitionTableType;
  sectorSize: number;
  /** GPT only: the first and last usable sectors. */
  firstLba?: number;
  lastLba?: number;
  partitions: ReadPartition[];
}

export interface PartitionerOptions {
  /** sfdisk attempts when the disk is busy (default 3, as the seed's `attempts=3`). */
  attempts?: number;
  /** Wait between attempts, ms (default 1000). */
  retryDelayMs?: number;
  /** Per sfdisk run (default 60 s). */
  timeoutMs?: number;
  /** The sfdisk program (default `sfdisk`, from $PATH). */
  sfdisk?: string;
  clock?: Clock;
}

const BUSY = /Device or resource busy/i;

/** Applies layouts with sfdisk and reads tables back; inject the CommandRunner (tests double it). */
export class Partitioner {
  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: PartitionerOptions = {},
  ) {}

  /**
   * Writes `layout` to `target` (a new label replaces whatever table was there). Retries while
   * sfdisk reports "Device or resource busy" (seed bug 1191084); any other failure, or the last
   * busy one, throws CommandFailed.
   */
  async apply(layout: PartitionLayout, target: string): Promise<void> {
    const program = this.opts.sfdisk ?? 'sfdisk';
    const args = ['--no-reread', '--no-tell-kernel', target];
    const attempts = Math.max(1, this.opts.attempts ?? 3);
    const clock = this.opts.clock ?? systemClock;
    const input = sfdiskScript(layout);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runner.check(program, args, { input, timeoutMs: this.opts.timeoutMs ?? 60_000 });
        return;
      } catch (e) {
        if (!(e instanceof CommandFailed) || attempt >= attempts || !isBusy(e.result)) throw e;
        await clock.sleep(this.opts.retryDelayMs ?? 1000);
      }
    }
  }

  /** Reads the partition table of `target` (`sfdisk -J`); throws CommandFailed if there is none. */
  async read(target: string): Promise<PartitionTable> {
    const program = this.opts.sfdisk ?? 'sfdisk';
    const r = await this.runner.check(program, ['-J', target], { timeoutMs: this.opts.timeoutMs ?? 60_000 });
    return parseSfdiskJson(r.stdout);
  }
}

function isBusy(r: RunResult | undefined): boolean {
  return r !== undefined && (BUSY.test(r.stderr) || BUSY.test(r.stdout));
}

/** Parses the JSON `sfdisk -J` prints (util-linux 2.38) into a PartitionTable. */
export function parseSfdiskJson(text: string): PartitionTable {
  const bad = (why: string) => new UnreadablePartitionTable(`sfdisk -J output ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('is not JSON');
  }
  const pt = (doc as { partitiontable?: Record<string, unknown> } | null)?.partitiontable;
  if (typeof pt !== 'object' || pt === null) throw bad('has no partitiontable');
  const label = pt.label;
  if (label !== 'dos' && label !== 'gpt') throw bad(`has label ${String(label)}, not dos or gpt`);
  const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`has a bad ${what}: ${String(v)}`);
    return v;
  };
  const parts = pt.partitions ?? [];
  if (!Array.isArray(parts)) throw bad('has partitions that are not a list');
  const partitions = parts.map((p: Record<string, unknown>): ReadPartition => {
    const node = String(p.node ?? '');
    const n = /(\d+)$/.exec(node);
    if (!n) throw bad(`has a partition node without a number: ${node}`);
    const type = String(p.type ?? '');
    return {
      number: Number(n[1]),
      startSector: num(p.start, 'start'),
      sizeSectors: num(p.size, 'size'),
      type: label === 'gpt' ? type.toUpperCase() : type.toLowerCase().replace(/^0x/, ''),
    };
  });
  const table: PartitionTable = {
    table: label === 'gpt' ? 'gpt' : 'msdos',
    sectorSize: pt.sectorsize === undefined ? 512 : num(pt.sectorsize, 'sectorsize'),
    partitions: partitions.sort((a, b) => a.number - b.number),
  };
  if (label === 'gpt') {
    table.firstLba = num(pt.firstlba, 'firstlba');
    table.lastLba = num(pt.lastlba, 'lastlba');
  }
  return table;
}

/**
 * How a table read back differs from the layout that was applied (label, partition count,
 * number, start, size, type); empty when they agree.
 */
export function layoutDifferences(layout: PartitionLayout, table: PartitionTable): string[] {
  const diffs: string[] = [];
  if (table.table !== layout.table) diffs.push(`table is ${table.table}, expected ${layout.table}`);
  if (table.partitions.length !== layout.partitions.length) {
    diffs.push(`${table.partitions.length} partitions, expected ${layout.partitions.length}`);
  }
  for (const want of layout.partitions) {
    const got = table.partitions.find((p) => p.number === want.number);
    if (!got) {
      diffs.push(`partition ${want.number} (${want.role}) is missing`);
      continue;
    }
    for (const k of ['startSector', 'sizeSectors', 'type'] as const) {
      const [g, w] = k === 'type' ? [got.type.toUpperCase(), want.type.toUpperCase()] : [got[k], want[k]];
      if (g !== w) diffs.push(`partition ${want.number} (${want.role}) ${k} is ${got[k]}, expected ${want[k]}`);
    }
  }
  return diffs;
}
