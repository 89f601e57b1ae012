import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner } from '@bm/exec';
import { FilesystemNotFound, ImageTooLarge, InvalidDiskParameter } from './errors';
import { ImageWriter } from './image-writer';
import { type PartitionLayout, partitionFor, partitionLayout } from './layout';
import { PartitionTools } from './partition-tools';
import { layoutDifferences, Partitioner } from './partitioner';

// The real programs (qemu-img 7.2, util-linux 2.38 mkswap/blkid, e2fsprogs 1.47 mke2fs/debugfs)
// on sparse disk files, as the deploy helper uses them on a FUSE-exported LUN: partitions are byte
// ranges of the file, no loop or partition devices.
const MIB = 1024 * 1024;
const run = (program: string, args: string[]): string =>
  execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `blkid -p -O <offset> -S <size> -o export` as a map (empty when nothing is found). */
function probe(file: string, offset: number, size: number): Record<string, string> {
  try {
    const out = run('blkid', ['-p', '-O', String(offset), '-S', String(size), '-o', 'export', file]);
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );
  } catch {
    return {};
  }
}

describe('ImageWriter and PartitionTools with the real programs', () => {
  const runner = new CommandRunner();
  const writer = new ImageWriter(runner);
  const tools = new PartitionTools(runner);
  let dir: string;
  let image: string;
  let qcow2: string;
  let imageUuid: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-ptools-'));
    const content = join(dir, 'content');
    mkdirSync(content);
    writeFileSync(join(content, 'marker'), 'deployed-by-nova-bm\n');
    image = join(dir, 'image.raw');
    run('mkfs.ext4', ['-q', '-F', '-d', content, '-L', 'root', image, '32M']);
    imageUuid = run('blkid', ['-p', '-s', 'UUID', '-o', 'value', image]).trim();
    qcow2 = join(dir, 'image.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, qcow2]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A sparse disk file with the Icehouse layout (ephemeral 1, swap 2, root 3) written by sfdisk. */
  async function icehouseDisk(name: string): Promise<{ file: string; layout: PartitionLayout }> {
    const file = join(dir, name);
    execFileSync('truncate', ['-s', '128M', file]);
    const layout = partitionLayout({
      diskMb: 128,
      rootMb: 40,
      swapMb: 8,
      ephemeralMb: 24,
      scheme: 'icehouse',
      table: 'gpt',
      imageMb: 32,
    });
    await new Partitioner(runner).apply(layout, file);
    return { file, layout };
  }

  const range = (layout: PartitionLayout, role: 'root' | 'swap' | 'ephemeral') => {
    const p = partitionFor(layout, role)!;
    return { offset: p.startMb * MIB, size: p.sizeMb * MIB };
  };

  /** Swap and ephemeral made, then everything checked with blkid, debugfs and sfdisk. */
  async function prepareAndCheck(file: string, layout: PartitionLayout): Promise<void> {
    const root = range(layout, 'root');
    const swap = range(layout, 'swap');
    const eph = range(layout, 'ephemeral');
    expect(layout.partitions.map((p) => p.role)).toEqual(['ephemeral', 'swap', 'root']);

    const { uuid: swapUuid } = await tools.mkswap(file, swap.offset, swap.size);
    await tools.mkfsEphemeral(file, eph.offset, eph.size);

    expect(probe(file, root.offset, root.size)).toMatchObject({ TYPE: 'ext4', LABEL: 'root', UUID: imageUuid });
    expect(await tools.rootUuid(file, root.offset)).toBe(imageUuid);
    expect(await tools.rootUuid(file, root.offset, root.size)).toBe(imageUuid);
    expect(swapUuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(probe(file, swap.offset, swap.size)).toMatchObject({ TYPE: 'swap', LABEL: 'swap1', UUID: swapUuid });
    expect(probe(file, eph.offset, eph.size)).toMatchObject({ TYPE: 'ext3', LABEL: 'ephemeral0' });
    // the swap header says the swap area is the whole partition: last page = size / 4096 - 1
    const header = readFileSync(file).subarray(swap.offset, swap.offset + 4096);
    expect(header.subarray(4086).toString()).toBe('SWAPSPACE2');
    expect(header.readUInt32LE(1024 + 4)).toBe(swap.size / 4096 - 1);
    // the file system in the root partition is the image's, marker and all, and is clean
    expect(run('debugfs', ['-R', 'cat /marker', `${file}?offset=${root.offset}`])).toBe('deployed-by-nova-bm\n');
    run('e2fsck', ['-fn', `${file}?offset=${root.offset}`]);
    run('e2fsck', ['-fn', `${file}?offset=${eph.offset}`]);
    // nothing spilled outside the partitions: the table is intact and the file did not grow
    expect(layoutDifferences(layout, await new Partitioner(runner).read(file))).toEqual([]);
    expect(statSync(file).size).toBe(128 * MIB);
  }

  it('raw image: writeRaw into the root partition, mkswap, mkfsEphemeral, rootUuid', async () => {
    const { file, layout } = await icehouseDisk('raw-deploy.img');
    const root = range(layout, 'root');
    expect(root).toEqual({ offset: 33 * MIB, size: 40 * MIB });
    const bytes = readFileSync(image);
    const expected = {
      size: bytes.length,
      md5: createHash('md5').update(bytes).digest('hex'),
      sha512: createHash('sha512').update(bytes).digest('hex'),
    };
    const progress: number[] = [];
    const r = await writer.writeRaw({
      source: createReadStream(image),
      target: file,
      offsetBytes: root.offset,
      maxBytes: root.size,
      expected,
      onProgress: (b) => progress.push(b),
    });
    expect([r.bytes, r.sha512]).toEqual([expected.size, expected.sha512]);
    expect(progress[progress.length - 1]).toBe(32 * MIB);
    await prepareAndCheck(file, layout);
  });

  it('qcow2 image: writeQcow2 (qemu-img convert -n --target-image-opts) into the root partition', async () => {
    const { file, layout } = await icehouseDisk('qcow2-deploy.img');
    const root = range(layout, 'root');
    const r = await writer.writeQcow2({
      sourcePath: qcow2,
      target: file,
      offsetBytes: root.offset,
      sizeBytes: root.size,
    });
    expect(r.virtualSize).toBe(32 * MIB);
    await prepareAndCheck(file, layout);
  });

  it('a qcow2 larger than the partition is refused and nothing is written', async () => {
    const { file, layout } = await icehouseDisk('qcow2-big.img');
    const root = range(layout, 'root');
    const big = join(dir, 'big.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', big, `${root.size + MIB}`]);
    const err = await writer
      .writeQcow2({ sourcePath: big, target: file, offsetBytes: root.offset, sizeBytes: root.size })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLarge);
    expect((err as ImageTooLarge).imageBytes).toBe(root.size + MIB);
    await expect(tools.rootUuid(file, root.offset, root.size)).rejects.toThrow(FilesystemNotFound);
    // and the same image through the raw writer is refused at the partition's end
    await expect(
      writer.writeRaw({
        source: createReadStream(image),
        target: file,
        offsetBytes: root.offset,
        maxBytes: 16 * MIB,
      }),
    ).rejects.toThrow(ImageTooLarge);
  });

  it('refuses a partition past the end of the file and an ephemeral filesystem without an offset option', async () => {
    const { file, layout } = await icehouseDisk('refusals.img');
    const eph = range(layout, 'ephemeral');
    await expect(tools.mkswap(file, 120 * MIB, 16 * MIB)).rejects.toThrow(InvalidDiskParameter);
    await expect(tools.mkfsEphemeral(file, 120 * MIB, 16 * MIB)).rejects.toThrow('ends past the end of');
    await expect(tools.mkfsEphemeral(file, eph.offset, eph.size, 'xfs')).rejects.toThrow(
      'fsType: must be one of ext2, ext3, ext4',
    );
    await tools.mkfsEphemeral(file, eph.offset, eph.size, 'ext4', 'scratch');
    expect(probe(file, eph.offset, eph.size)).toMatchObject({ TYPE: 'ext4', LABEL: 'scratch' });
  });
});
