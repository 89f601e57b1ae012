/**
 * The partition layout of a bare-metal deploy (nova/virt/baremetal/deploy_helper.py's
 * `make_partitions`), as numbers: pure, no I/O. The Partitioner writes it with sfdisk.
 *
 * Choices (the seed's behaviour unless said otherwise):
 * - Partition 1 starts at 1 MiB (sector 2048) and every partition starts and ends on a MiB
 *   boundary: the seed's `sfdisk -uM` with `1,<root_mb>,83;` gave exactly that.
 * - Root grows to `ceil(imageMb)` when the image is larger than rootMb (deploy() step 2).
 * - Swap 0 still gets a 1 MiB swap partition: the seed's driver (pxe.py activate_bootloader)
 *   raised a flavor swap of 0 to 1 MiB ("we always create a swap partition"), so partition
 *   numbers never move and the deploy always has a partition to mkswap.
 * - Icehouse with ephemeralMb > 0: ephemeral 1, swap 2, root 3 (last, so it can grow); otherwise
 *   the Havana layout root 1, swap 2. Scheme 'havana' with ephemeralMb > 0 is refused rather
 *   than silently dropping the ephemeral disk.
 * - GPT: the primary table fits in the first MiB; the backup table takes the last 33 sectors, so
 *   a whole-MiB layout needs one more MiB of disk than with msdos. msdos cannot address a
 *   partition that starts or spans beyond 2^32 - 1 sectors (2 TiB): that asks for GPT.
 */
import type { FieldProblem } from '@bm/core';
import { DiskTooSmall, InvalidDiskParameter } from './errors';

/** Bytes per sector: the unit of sfdisk scripts. */
export const SECTOR_BYTES = 512;
/** Sectors per MiB. */
export const SECTORS_PER_MIB = (1024 * 1024) / SECTOR_BYTES;
/** Where partition 1 starts and what every partition is aligned to, in MiB. */
export const ALIGN_MB = 1;
/** Sectors at the end of a GPT disk that hold the backup header and entries. */
export const GPT_BACKUP_SECTORS = 33;
/** The largest start or size an msdos partition entry can hold (32-bit sector fields). */
export const MSDOS_MAX_SECTORS = 0xffffffff;

/** Partition type GUIDs (GPT) and ids (msdos) of the two kinds of partition a deploy makes. */
export const PARTITION_TYPES = {
  gpt: { linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F' },
  msdos: { linux: '83', swap: '82' },
} as const;

export type PartitionScheme = 'havana' | 'icehouse';
export type PartitionTableType = 'msdos' | 'gpt';
export type PartitionRole = 'root' | 'swap' | 'ephemeral';

/** What the deploy asks for: flavor sizes (MiB), the image size, the disk and the layout flavour. */
export interface LayoutInput {
  /** Whole disk size, MiB (an integer > 0). */
  diskMb: number;
  /** Flavor root_gb * 1024 (integer >= 0); grown to the image size if smaller. */
  rootMb: number;
  /** Flavor swap (integer >= 0; 0 still gives a 1 MiB swap partition, as the seed). */
  swapMb: number;
  /** Flavor ephemeral_gb * 1024 (integer >= 0; > 0 only with scheme 'icehouse'). */
  ephemeralMb: number;
  /** Size of the image written to root, MiB (may be fractional: rounded up). */
  imageMb?: number;
  scheme: PartitionScheme;
  table: PartitionTableType;
}

/** One planned partition; starts and sizes in MiB and in 512-byte sectors. */
export interface PlannedPartition {
  /** 1-based, as in `<dev>-part<N>`. */
  number: number;
  role: PartitionRole;
  startMb: number;
  sizeMb: number;
  startSector: number;
  sizeSectors: number;
  /** msdos id ('83', '82') or GPT type GUID (upper case). */
  type: string;
}

/** A whole layout: what partitionLayout() planned and sfdiskScript()/Partitioner apply. */
export interface PartitionLayout {
  table: PartitionTableType;
  scheme: PartitionScheme;
  diskMb: number;
  diskSectors: number;
  /** The sizes actually used: root after growing to the image, swap after the 1 MiB minimum. */
  rootMb: number;
  swapMb: number;
  ephemeralMb: number;
  /** First MiB after the last partition. */
  endMb: number;
  /** In partition-number order. */
  partitions: PlannedPartition[];
}

const SCHEMES: readonly string[] = ['havana', 'icehouse'];
const TABLES: readonly string[] = ['msdos', 'gpt'];

function validate(input: LayoutInput): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const whole = (field: keyof LayoutInput, min: number) => {
    const v: unknown = input[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      problems.push({ field, message: `must be an integer >= ${min} (MiB), got ${String(v)}` });
    }
  };
  whole('diskMb', 1);
  whole('rootMb', 0);
  whole('swapMb', 0);
  whole('ephemeralMb', 0);
  const image: unknown = input.imageMb;
  if (image !== undefined && (typeof image !== 'number' || !Number.isFinite(image) || image < 0)) {
    problems.push({ field: 'imageMb', message: `must be a number >= 0 (MiB), got ${String(image)}` });
  }
  if (!SCHEMES.includes(input.scheme)) {
    problems.push({ field: 'scheme', message: `must be 'havana' or 'icehouse', got ${String(input.scheme)}` });
  }
  if (!TABLES.includes(input.table)) {
    problems.push({ field: 'table', message: `must be 'msdos' or 'gpt', got ${String(input.table)}` });
  }
  if (problems.length) return problems;
  if (input.scheme === 'havana' && input.ephemeralMb > 0) {
    problems.push({ field: 'ephemeralMb', message: `must be 0 with scheme 'havana' (no ephemeral partition)` });
  }
  if (Math.max(input.rootMb, Math.ceil(input.imageMb ?? 0)) < 1) {
    problems.push({ field: 'rootMb', message: 'must be > 0 when there is no image to size root by' });
  }
  return problems;
}

/**
 * Plans the partitions of a deploy (see the file comment for the rules). Throws
 * InvalidDiskParameter for a bad request and DiskTooSmall, naming every size, when it does not fit.
 */
export function partitionLayout(input: LayoutInput): PartitionLayout {
  const problems = validate(input);
  if (problems.length) throw new InvalidDiskParameter(problems);

  const rootMb = Math.max(input.rootMb, Math.ceil(input.imageMb ?? 0));
  const swapMb = Math.max(1, input.swapMb);
  const ephemeralMb = input.ephemeralMb;
  const roles: [PartitionRole, number][] =
    input.scheme === 'icehouse' && ephemeralMb > 0
      ? [
          ['ephemeral', ephemeralMb],
          ['swap', swapMb],
          ['root', rootMb],
        ]
      : [
          ['root', rootMb],
          ['swap', swapMb],
        ];
  const types = PARTITION_TYPES[input.table];
  let next = ALIGN_MB;
  const partitions = roles.map(([role, sizeMb], i): PlannedPartition => {
    const startMb = next;
    next += sizeMb;
    return {
      number: i + 1,
      role,
      startMb,
      sizeMb,
      startSector: startMb * SECTORS_PER_MIB,
      sizeSectors: sizeMb * SECTORS_PER_MIB,
      type: role === 'swap' ? types.swap : types.linux,
    };
  });
  const endMb = next;
  const gpt = input.table === 'gpt';
  const diskSectors = input.diskMb * SECTORS_PER_MIB;
  const usable = diskSectors - (gpt ? GPT_BACKUP_SECTORS : 0);
  if (endMb * SECTORS_PER_MIB > usable) {
    const sizes = partitions.map((p) => `${p.role} ${p.sizeMb} MiB`).join(' + ');
    const why = [
      rootMb > input.rootMb ? `root grown from ${input.rootMb} MiB to the ${input.imageMb} MiB image` : '',
      swapMb > input.swapMb ? `swap raised from ${input.swapMb} to 1 MiB` : '',
    ].filter(Boolean);
    const detail =
      `${ALIGN_MB} MiB alignment gap + ${sizes}` +
      (gpt ? ` + the GPT backup table (${GPT_BACKUP_SECTORS} sectors, so 1 MiB)` : '') +
      (why.length ? ` (${why.join('; ')})` : '');
    throw new DiskTooSmall(input.diskMb, endMb + (gpt ? 1 : 0), detail);
  }
  if (!gpt) {
    const over = partitions.find((p) => p.startSector > MSDOS_MAX_SECTORS || p.sizeSectors > MSDOS_MAX_SECTORS);
    if (over) {
      const what = `partition ${over.number} (${over.role}, ${over.sizeMb} MiB at ${over.startMb} MiB)`;
      const message = `msdos cannot hold ${what}: 32-bit sector fields (2 TiB); use gpt`;
      throw new InvalidDiskParameter([{ field: 'table', message }]);
    }
  }
  return {
    table: input.table,
    scheme: input.scheme,
    diskMb: input.diskMb,
    diskSectors,
    rootMb,
    swapMb,
    ephemeralMb,
    endMb,
    partitions,
  };
}

/** The partition that plays `role`, if the layout has one. */
export function partitionFor(layout: PartitionLayout, role: PartitionRole): PlannedPartition | undefined {
  return layout.partitions.find((p) => p.role === role);
}

/**
 * The stdin of `sfdisk` (util-linux 2.38 script format) that writes `layout`: a new label, sector
 * units, one line per partition with explicit start, size and type. Same layout, same bytes.
 */
export function sfdiskScript(layout: PartitionLayout): string {
  const header = [`label: ${layout.table === 'gpt' ? 'gpt' : 'dos'}`, 'unit: sectors', ''];
  const lines = layout.partitions.map((p) => `start=${p.startSector}, size=${p.sizeSectors}, type=${p.type}`);
  return [...header, ...lines].join('\n') + '\n';
}
