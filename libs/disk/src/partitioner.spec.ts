import { ManualClock } from '@bm/core';
import { CommandFailed, CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { UnreadablePartitionTable } from './errors';
import { partitionLayout, sfdiskScript } from './layout';
import { layoutDifferences, parseSfdiskJson, Partitioner } from './partitioner';

/** Records each call and answers from a script of results. */
class RecordingRunner extends CommandRunner {
  calls: { program: string; args: readonly string[]; input?: string }[] = [];
  constructor(private readonly results: Partial<RunResult>[]) {
    super();
  }
  override async run(program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ program, args, input: o.input?.toString() });
    const r = this.results.shift() ?? {};
    return { code: 0, signal: null, stdout: '', stderr: '', durationMs: 1, ...r };
  }
}

const layout = partitionLayout({
  diskMb: 100,
  rootMb: 10,
  swapMb: 2,
  ephemeralMb: 0,
  scheme: 'havana',
  table: 'msdos',
});
const busy = { code: 1, stderr: 'sfdisk: cannot open /dev/sdb: Device or resource busy\n' };
const nextTick = () => new Promise((r) => setImmediate(r));

describe('Partitioner.apply', () => {
  it('runs sfdisk without a shell, the script on stdin, the kernel left alone', async () => {
    const r = new RecordingRunner([{}]);
    await new Partitioner(r).apply(layout, '/run/lun.raw');
    expect(r.calls).toEqual([
      { program: 'sfdisk', args: ['--no-reread', '--no-tell-kernel', '/run/lun.raw'], input: sfdiskScript(layout) },
    ]);
  });

  it('retries "Device or resource busy" up to 3 attempts, waiting between them', async () => {
    const clock = new ManualClock();
    const r = new RecordingRunner([busy, busy, {}]);
    let done = false;
    const p = new Partitioner(r, { clock, retryDelayMs: 500 }).apply(layout, '/dev/sdb').then(() => (done = true));
    await nextTick();
    expect(r.calls).toHaveLength(1);
    clock.advance(499);
    await nextTick();
    expect(r.calls).toHaveLength(1);
    clock.advance(1);
    await nextTick();
    expect(r.calls).toHaveLength(2);
    clock.advance(500);
    await p;
    expect([done, r.calls.length]).toEqual([true, 3]);
  });

  it('gives up after the third busy attempt with CommandFailed', async () => {
    const clock = new ManualClock();
    const r = new RecordingRunner([busy, busy, busy, {}]);
    const p = new Partitioner(r, { clock }).apply(layout, '/dev/sdb').catch((e) => e);
    for (let i = 0; i < 5; i++) {
      await nextTick();
      clock.advance(1000);
    }
    const err = await p;
    expect(err).toBeInstanceOf(CommandFailed);
    expect(err.message).toContain('Device or resource busy');
    expect(r.calls).toHaveLength(3);
  });

  it('does not retry other failures', async () => {
    const r = new RecordingRunner([{ code: 1, stderr: 'sfdisk: cannot open x: No such file or directory\n' }, {}]);
    await expect(new Partitioner(r).apply(layout, 'x')).rejects.toThrow('No such file or directory');
    expect(r.calls).toHaveLength(1);
  });
});

const dosJson = JSON.stringify({
  partitiontable: {
    label: 'dos',
    id: '0x462ad13f',
    device: 'disk.img',
    unit: 'sectors',
    sectorsize: 512,
    partitions: [
      { node: 'disk.img2', start: 22528, size: 4096, type: '82' },
      { node: 'disk.img1', start: 2048, size: 20480, type: '83' },
    ],
  },
});

describe('Partitioner.read / parseSfdiskJson', () => {
  it('runs sfdisk -J and parses the partitions in number order', async () => {
    const r = new RecordingRunner([{ stdout: dosJson }]);
    const t = await new Partitioner(r).read('disk.img');
    expect(r.calls[0]).toMatchObject({ program: 'sfdisk', args: ['-J', 'disk.img'] });
    expect(t).toEqual({
      table: 'msdos',
      sectorSize: 512,
      partitions: [
        { number: 1, startSector: 2048, sizeSectors: 20480, type: '83' },
        { number: 2, startSector: 22528, sizeSectors: 4096, type: '82' },
      ],
    });
    expect(layoutDifferences(layout, t)).toEqual([]);
  });

  it('parses GPT (first/last usable LBA, type GUIDs upper case, nvme-style nodes)', () => {
    const t = parseSfdiskJson(
      JSON.stringify({
        partitiontable: {
          label: 'gpt',
          firstlba: 2048,
          lastlba: 204766,
          sectorsize: 512,
          partitions: [
            { node: '/dev/nvme0n1p1', start: 2048, size: 2048, type: '0fc63daf-8483-4772-8e79-3d69d8477de4' },
          ],
        },
      }),
    );
    expect(t).toEqual({
      table: 'gpt',
      sectorSize: 512,
      firstLba: 2048,
      lastLba: 204766,
      partitions: [{ number: 1, startSector: 2048, sizeSectors: 2048, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' }],
    });
  });

  it.each([
    ['not JSON', 'sfdisk: x: does not contain a recognized partition table'],
    ['no table', '{}'],
    ['another label', '{"partitiontable":{"label":"sun","partitions":[]}}'],
    ['a bad start', '{"partitiontable":{"label":"dos","partitions":[{"node":"d1","start":-1,"size":1,"type":"83"}]}}'],
  ])('refuses %s', (_n, text) => {
    expect(() => parseSfdiskJson(text)).toThrow(UnreadablePartitionTable);
  });

  it('layoutDifferences names what differs', () => {
    const t = parseSfdiskJson(dosJson);
    t.partitions[1] = { ...t.partitions[1], sizeSectors: 2048, type: '83' };
    expect(layoutDifferences({ ...layout, table: 'gpt' }, { ...t, partitions: t.partitions.slice(1) })).toEqual([
      'table is msdos, expected gpt',
      '1 partitions, expected 2',
      'partition 1 (root) is missing',
      'partition 2 (swap) sizeSectors is 2048, expected 4096',
      'partition 2 (swap) type is 83, expected 82',
    ]);
  });
});
