import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner } from '@bm/exec';
import { type LayoutInput, partitionLayout } from './layout';
import { layoutDifferences, Partitioner } from './partitioner';

// The real sfdisk (Debian's fdisk package, util-linux 2.38) on a sparse file, as the deploy
// helper uses it on a FUSE-exported iSCSI LUN: no kernel partition scanning involved.
describe('Partitioner with the real sfdisk', () => {
  let dir: string;
  const partitioner = new Partitioner(new CommandRunner());

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-disk-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const disk = (name: string, mb: number): string => {
    const file = join(dir, name);
    execFileSync('truncate', ['-s', `${mb}M`, file]);
    return file;
  };

  it.each([
    ['havana msdos', { diskMb: 64, rootMb: 20, swapMb: 8, ephemeralMb: 0, imageMb: 30.5, scheme: 'havana' }],
    ['icehouse msdos', { diskMb: 64, rootMb: 16, swapMb: 0, ephemeralMb: 24, scheme: 'icehouse' }],
    [
      'icehouse gpt, disk exactly big enough',
      { diskMb: 42, rootMb: 16, swapMb: 0, ephemeralMb: 23, scheme: 'icehouse' },
    ],
  ] as [string, Omit<LayoutInput, 'table'>][])('%s: applies and reads back the layout', async (name, o) => {
    const table = name.includes('gpt') ? 'gpt' : 'msdos';
    const layout = partitionLayout({ ...o, table });
    const file = disk(name.replace(/\W+/g, '-') + '.img', o.diskMb);
    await partitioner.apply(layout, file);
    const read = await partitioner.read(file);
    expect(layoutDifferences(layout, read)).toEqual([]);
    expect(read.partitions).toEqual(
      layout.partitions.map((p) => ({
        number: p.number,
        startSector: p.startSector,
        sizeSectors: p.sizeSectors,
        type: p.type,
      })),
    );
    if (table === 'gpt') expect(read.lastLba).toBe(o.diskMb * 2048 - 34);
    expect(statSync(file).size).toBe(o.diskMb * 1024 * 1024); // sfdisk did not grow the file
  });

  it('a new layout replaces the old table (gpt, then msdos, then gpt)', async () => {
    const file = disk('relabel.img', 80);
    const base = { diskMb: 80, rootMb: 30, swapMb: 4, ephemeralMb: 10, scheme: 'icehouse' as const };
    for (const table of ['gpt', 'msdos', 'gpt'] as const) {
      const layout = partitionLayout({ ...base, table, ephemeralMb: table === 'gpt' ? 10 : 0 });
      await partitioner.apply(layout, file);
      expect(layoutDifferences(layout, await partitioner.read(file))).toEqual([]);
    }
  });

  it('sfdisk refuses a layout that does not fit the real file; read of a blank file fails', async () => {
    const layout = partitionLayout({
      diskMb: 64,
      rootMb: 40,
      swapMb: 8,
      ephemeralMb: 0,
      scheme: 'havana',
      table: 'gpt',
    });
    const small = disk('small.img', 32);
    await expect(partitioner.apply(layout, small)).rejects.toThrow(/sfdisk/);
    await expect(partitioner.read(disk('blank.img', 8))).rejects.toThrow(/sfdisk -J/);
  });
});
