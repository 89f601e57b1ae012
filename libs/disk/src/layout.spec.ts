import { DiskTooSmall, InvalidDiskParameter } from './errors';
import {
  type LayoutInput,
  type PartitionLayout,
  PARTITION_TYPES,
  partitionFor,
  partitionLayout,
  sfdiskScript,
} from './layout';

const LINUX_GUID = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
const SWAP_GUID = '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F';
const MIB = 2048;

const input = (o: Partial<LayoutInput>): LayoutInput => ({
  diskMb: 10_240,
  rootMb: 4096,
  swapMb: 512,
  ephemeralMb: 0,
  scheme: 'havana',
  table: 'msdos',
  ...o,
});

/** Every layout: starts at 1 MiB, MiB-aligned, contiguous, numbered 1.., inside the disk. */
function checkInvariants(l: PartitionLayout): void {
  expect(l.partitions[0].startMb).toBe(1);
  expect(l.partitions[0].startSector).toBe(2048);
  let end = 1;
  l.partitions.forEach((p, i) => {
    expect(p.number).toBe(i + 1);
    expect(p.startSector).toBe(p.startMb * MIB);
    expect(p.sizeSectors).toBe(p.sizeMb * MIB);
    expect(p.startSector % MIB).toBe(0);
    expect(p.sizeSectors % MIB).toBe(0);
    expect(p.sizeMb).toBeGreaterThanOrEqual(1);
    expect(p.startMb).toBe(end); // no overlap, no gap
    end = p.startMb + p.sizeMb;
  });
  expect(l.endMb).toBe(end);
  const last = l.partitions[l.partitions.length - 1];
  const limit = l.diskMb * MIB - (l.table === 'gpt' ? 33 : 0);
  expect(last.startSector + last.sizeSectors).toBeLessThanOrEqual(limit);
}

type Row = [string, Partial<LayoutInput>, [string, number, number][]];

// [case, input, expected [role, startMb, sizeMb] in partition-number order]
const rows: Row[] = [
  [
    'havana root + swap',
    { rootMb: 4096, swapMb: 512 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'havana tiny root and swap',
    { diskMb: 4, rootMb: 1, swapMb: 1 },
    [
      ['root', 1, 1],
      ['swap', 2, 1],
    ],
  ],
  [
    'havana swap 0 -> 1 MiB (seed min 1)',
    { rootMb: 2048, swapMb: 0 },
    [
      ['root', 1, 2048],
      ['swap', 2049, 1],
    ],
  ],
  [
    'havana image larger than root',
    { rootMb: 1024, imageMb: 1500.2 },
    [
      ['root', 1, 1501],
      ['swap', 1502, 512],
    ],
  ],
  [
    'havana image exactly whole MiB',
    { rootMb: 1024, imageMb: 2000 },
    [
      ['root', 1, 2000],
      ['swap', 2001, 512],
    ],
  ],
  [
    'havana image smaller than root',
    { rootMb: 4096, imageMb: 100.5 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'havana root 0 sized by image',
    { rootMb: 0, imageMb: 0.1 },
    [
      ['root', 1, 1],
      ['swap', 2, 512],
    ],
  ],
  [
    'icehouse with ephemeral: ephemeral, swap, root last',
    { scheme: 'icehouse', rootMb: 2048, swapMb: 256, ephemeralMb: 1024 },
    [
      ['ephemeral', 1, 1024],
      ['swap', 1025, 256],
      ['root', 1281, 2048],
    ],
  ],
  [
    'icehouse ephemeral + image larger than root (root last grows)',
    { scheme: 'icehouse', rootMb: 10, swapMb: 0, ephemeralMb: 20, imageMb: 33.3 },
    [
      ['ephemeral', 1, 20],
      ['swap', 21, 1],
      ['root', 22, 34],
    ],
  ],
  [
    'icehouse without ephemeral = havana',
    { scheme: 'icehouse', rootMb: 4096, swapMb: 512, ephemeralMb: 0 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'gpt havana',
    { table: 'gpt', rootMb: 4096, swapMb: 512 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'gpt icehouse',
    { table: 'gpt', scheme: 'icehouse', rootMb: 20_480, swapMb: 1024, ephemeralMb: 51_200, diskMb: 80_000 },
    [
      ['ephemeral', 1, 51_200],
      ['swap', 51_201, 1024],
      ['root', 52_225, 20_480],
    ],
  ],
  [
    'msdos disk exactly big enough',
    { diskMb: 4609, rootMb: 4096, swapMb: 512 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'gpt disk exactly big enough (backup table needs 1 more MiB)',
    { table: 'gpt', diskMb: 4610, rootMb: 4096, swapMb: 512 },
    [
      ['root', 1, 4096],
      ['swap', 4097, 512],
    ],
  ],
  [
    'icehouse msdos exactly big enough',
    { scheme: 'icehouse', diskMb: 61, rootMb: 10, swapMb: 20, ephemeralMb: 30 },
    [
      ['ephemeral', 1, 30],
      ['swap', 31, 20],
      ['root', 51, 10],
    ],
  ],
  [
    'msdos 2 TiB disk, partitions within 32-bit sectors',
    { diskMb: 2_097_152, rootMb: 1_048_576, swapMb: 8192 },
    [
      ['root', 1, 1_048_576],
      ['swap', 1_048_577, 8192],
    ],
  ],
];

describe('partitionLayout', () => {
  it.each(rows)('%s', (_name, o, expected) => {
    const l = partitionLayout(input(o));
    expect(l.partitions.map((p) => [p.role, p.startMb, p.sizeMb])).toEqual(expected);
    checkInvariants(l);
    const table = o.table ?? 'msdos';
    for (const p of l.partitions) {
      expect(p.type).toBe(PARTITION_TYPES[table][p.role === 'swap' ? 'swap' : 'linux']);
    }
    expect(l.rootMb).toBe(partitionFor(l, 'root')?.sizeMb);
    expect(l.swapMb).toBe(partitionFor(l, 'swap')?.sizeMb);
    expect(l.diskSectors).toBe(l.diskMb * MIB);
  });

  it('uses the GPT type GUIDs for Linux filesystem and Linux swap, and 83/82 on msdos', () => {
    const g = partitionLayout(input({ table: 'gpt', scheme: 'icehouse', ephemeralMb: 100 }));
    expect(g.partitions.map((p) => p.type)).toEqual([LINUX_GUID, SWAP_GUID, LINUX_GUID]);
    const m = partitionLayout(input({ scheme: 'icehouse', ephemeralMb: 100 }));
    expect(m.partitions.map((p) => p.type)).toEqual(['83', '82', '83']);
  });

  // Sweep: many disk/flavor combinations keep the invariants and the scheme's order.
  const sizes = [1, 2, 7, 512, 1023, 1024, 4096, 20_480];
  const combos = sizes.flatMap((root) =>
    [0, 1, 100, 2048].flatMap((swap) =>
      [0, 1, 5000].flatMap((eph) => [undefined, 3.5, 30_000].map((img) => ({ root, swap, eph, img }))),
    ),
  );
  it.each(['msdos', 'gpt'] as const)('sweeps many disk and flavor sizes on %s', (table) => {
    for (const { root, swap, eph, img } of combos) {
      for (const scheme of ['havana', 'icehouse'] as const) {
        if (scheme === 'havana' && eph > 0) continue;
        const needRoot = Math.max(root, Math.ceil(img ?? 0));
        const needMb = 1 + needRoot + Math.max(1, swap) + eph + (table === 'gpt' ? 1 : 0);
        const base = { rootMb: root, swapMb: swap, ephemeralMb: eph, imageMb: img, scheme, table };
        const l = partitionLayout({ ...base, diskMb: needMb });
        checkInvariants(l);
        expect(l.partitions.map((p) => p.role)).toEqual(eph > 0 ? ['ephemeral', 'swap', 'root'] : ['root', 'swap']);
        expect(partitionFor(l, 'root')?.sizeMb).toBe(needRoot);
        expect(() => partitionLayout({ ...base, diskMb: needMb - 1 })).toThrow(DiskTooSmall);
      }
    }
  });
});

describe('partitionLayout refuses', () => {
  it.each([
    ['msdos', { diskMb: 4608, rootMb: 4096, swapMb: 512 }, 4609],
    ['gpt', { table: 'gpt', diskMb: 4609, rootMb: 4096, swapMb: 512 }, 4610],
    ['icehouse', { scheme: 'icehouse', diskMb: 60, rootMb: 10, swapMb: 20, ephemeralMb: 30 }, 61],
  ] as [string, Partial<LayoutInput>, number][])('a disk 1 MiB too small (%s), naming the sizes', (_n, o, need) => {
    const err = (() => {
      try {
        partitionLayout(input(o));
      } catch (e) {
        return e;
      }
    })() as DiskTooSmall;
    expect(err).toBeInstanceOf(DiskTooSmall);
    expect([err.name, err.kind, err.diskMb, err.neededMb]).toEqual(['DiskTooSmall', 'invalid', o.diskMb, need]);
    expect(err.message).toContain(`disk of ${o.diskMb} MiB is too small`);
    expect(err.message).toContain(`need ${need} MiB`);
    expect(err.message).toContain(`root ${o.rootMb} MiB`);
    expect(err.message).toContain(`swap ${o.swapMb} MiB`);
  });

  it('says when root grew to the image or swap was raised to 1 MiB', () => {
    expect(() => partitionLayout(input({ diskMb: 100, rootMb: 10, swapMb: 0, imageMb: 120.5 }))).toThrow(
      'disk of 100 MiB is too small: 1 MiB alignment gap + root 121 MiB + swap 1 MiB ' +
        '(root grown from 10 MiB to the 120.5 MiB image; swap raised from 0 to 1 MiB) need 123 MiB',
    );
    expect(() => partitionLayout(input({ table: 'gpt', diskMb: 12, rootMb: 10, swapMb: 1 }))).toThrow(
      'disk of 12 MiB is too small: 1 MiB alignment gap + root 10 MiB + swap 1 MiB + the GPT backup table ' +
        '(33 sectors, so 1 MiB) need 13 MiB',
    );
  });

  it.each([
    ['negative root', { rootMb: -1 }, 'rootMb: must be an integer >= 0 (MiB), got -1'],
    ['fractional swap', { swapMb: 1.5 }, 'swapMb: must be an integer >= 0 (MiB), got 1.5'],
    ['fractional disk', { diskMb: 100.25 }, 'diskMb: must be an integer >= 1 (MiB), got 100.25'],
    ['zero disk', { diskMb: 0 }, 'diskMb: must be an integer >= 1 (MiB), got 0'],
    ['NaN ephemeral', { ephemeralMb: NaN }, 'ephemeralMb: must be an integer >= 0 (MiB), got NaN'],
    ['string root', { rootMb: '10' as unknown as number }, 'rootMb: must be an integer >= 0 (MiB), got 10'],
    ['negative image', { imageMb: -3 }, 'imageMb: must be a number >= 0 (MiB), got -3'],
    ['infinite image', { imageMb: Infinity }, 'imageMb: must be a number >= 0 (MiB), got Infinity'],
    ['unknown scheme', { scheme: 'juno' as 'havana' }, "scheme: must be 'havana' or 'icehouse', got juno"],
    ['unknown table', { table: 'bsd' as 'gpt' }, "table: must be 'msdos' or 'gpt', got bsd"],
    ['ephemeral with havana', { ephemeralMb: 10 }, "ephemeralMb: must be 0 with scheme 'havana'"],
    ['empty root, no image', { rootMb: 0 }, 'rootMb: must be > 0 when there is no image to size root by'],
    ['msdos beyond 2^32 sectors', { diskMb: 3_000_000, rootMb: 2_097_152 }, 'msdos cannot hold partition 1'],
  ] as [string, Partial<LayoutInput>, string][])('%s', (_n, o, message) => {
    let err: unknown;
    try {
      partitionLayout(input(o));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidDiskParameter);
    expect((err as InvalidDiskParameter).name).toBe('InvalidParameterValue');
    expect((err as InvalidDiskParameter).kind).toBe('invalid');
    expect((err as Error).message).toContain(message);
  });

  it('lists every bad field at once', () => {
    expect(() => partitionLayout(input({ rootMb: -1, swapMb: 0.5 }))).toThrow(
      'Invalid partition layout request: rootMb: must be an integer >= 0 (MiB), got -1; ' +
        'swapMb: must be an integer >= 0 (MiB), got 0.5',
    );
  });

  it('the same 2 TiB root is fine on gpt', () => {
    const l = partitionLayout(input({ table: 'gpt', diskMb: 3_000_000, rootMb: 2_097_152 }));
    checkInvariants(l);
  });
});

describe('sfdiskScript', () => {
  it('msdos, Havana: byte-exact', () => {
    const l = partitionLayout(input({ diskMb: 100, rootMb: 10, swapMb: 0, imageMb: 20.5 }));
    expect(sfdiskScript(l)).toBe(
      'label: dos\n' +
        'unit: sectors\n' +
        '\n' +
        'start=2048, size=43008, type=83\n' +
        'start=45056, size=2048, type=82\n',
    );
  });

  it('gpt, Icehouse: byte-exact and deterministic', () => {
    const i = input({ table: 'gpt', scheme: 'icehouse', diskMb: 200, rootMb: 64, swapMb: 16, ephemeralMb: 32 });
    const script = sfdiskScript(partitionLayout(i));
    expect(script).toBe(
      'label: gpt\n' +
        'unit: sectors\n' +
        '\n' +
        'start=2048, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' +
        'start=67584, size=32768, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n' +
        'start=100352, size=131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n',
    );
    expect(sfdiskScript(partitionLayout(i))).toBe(script);
  });
});
