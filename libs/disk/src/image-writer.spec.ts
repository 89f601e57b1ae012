import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { ImageChecksumMismatch, ImageTooLarge, ImageWriteFailed, InvalidDiskParameter, InvalidImage } from './errors';
import { ImageWriter } from './image-writer';

const MIB = 1024 * 1024;

/** Records each call and answers from a script of results. */
class RecordingRunner extends CommandRunner {
  calls: { program: string; args: readonly string[] }[] = [];
  constructor(private readonly results: Partial<RunResult>[] = []) {
    super();
  }
  override async run(program: string, args: readonly string[], _o: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ program, args });
    const r = this.results.shift() ?? {};
    return { code: 0, signal: null, stdout: '', stderr: '', durationMs: 1, ...r };
  }
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

/** A stream of `data` in pieces of `piece` bytes (so the writer sees many chunks). */
const streamOf = (data: Buffer, piece = 64 * 1024): Readable =>
  Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += piece) yield data.subarray(at, at + piece);
    })(),
  );

describe('ImageWriter.writeRaw', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'bm-imgw-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A disk file of `size` bytes filled with 0xee, so untouched bytes are recognisable. */
  const disk = (name: string, size: number): string => {
    const file = join(dir, name);
    writeFileSync(file, Buffer.alloc(size, 0xee));
    return file;
  };

  it('writes the image at the offset, leaves the rest alone and returns the sha512 it checked', async () => {
    const image = randomBytes(3 * MIB + 12_345); // not a multiple of the buffer
    const file = disk('plain.img', 8 * MIB);
    const progress: number[] = [];
    const w = new ImageWriter(new RecordingRunner(), { bufferBytes: MIB, progressBytes: MIB });
    const r = await w.writeRaw({
      source: streamOf(image, 100_000),
      target: file,
      offsetBytes: 2 * MIB,
      maxBytes: 4 * MIB,
      expected: { size: image.length, md5: md5(image).toUpperCase(), sha512: sha512(image) },
      onProgress: (b) => progress.push(b),
    });
    // One digest, the strongest given (Glance's os_hash): hashing both would double the CPU per byte.
    expect(r).toEqual({ bytes: image.length, sha512: sha512(image), durationMs: expect.any(Number) });
    const after = readFileSync(file);
    expect(after.length).toBe(8 * MIB); // not truncated, not grown
    expect(after.subarray(2 * MIB, 2 * MIB + image.length).equals(image)).toBe(true);
    expect(after.subarray(0, 2 * MIB).every((b) => b === 0xee)).toBe(true);
    expect(after.subarray(2 * MIB + image.length).every((b) => b === 0xee)).toBe(true);
    // every MiB written, then once at the end with the total
    expect(progress).toEqual([MIB, 2 * MIB, 3 * MIB, image.length]);
  });

  it('accepts an image exactly the size of the partition, and an empty one', async () => {
    const image = randomBytes(MIB);
    const file = disk('exact.img', 3 * MIB);
    const w = new ImageWriter(new RecordingRunner());
    const r = await w.writeRaw({ source: streamOf(image), target: file, offsetBytes: MIB, maxBytes: MIB });
    expect(r.bytes).toBe(MIB);
    expect(
      readFileSync(file)
        .subarray(MIB, 2 * MIB)
        .equals(image),
    ).toBe(true);
    const empty = await w.writeRaw({
      source: Readable.from([]),
      target: file,
      offsetBytes: 0,
      maxBytes: 1,
      expected: { md5: md5(Buffer.alloc(0)) },
    });
    expect([empty.bytes, empty.md5]).toEqual([0, md5(Buffer.alloc(0))]);
  });

  it('refuses to write past the partition: nothing beyond maxBytes is written', async () => {
    const image = randomBytes(2 * MIB);
    const file = disk('over.img', 6 * MIB);
    const w = new ImageWriter(new RecordingRunner(), { bufferBytes: 256 * 1024 });
    const source = streamOf(image, 100_000);
    const err = await w
      .writeRaw({ source, target: file, offsetBytes: MIB, maxBytes: MIB + 4096 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLarge);
    expect((err as ImageTooLarge).kind).toBe('invalid');
    expect((err as Error).message).toContain(`does not fit the ${MIB + 4096}-byte partition`);
    const after = readFileSync(file);
    expect(after.subarray(2 * MIB + 4096).every((b) => b === 0xee)).toBe(true);
    expect(source.destroyed).toBe(true);
  });

  it('refuses up front when the expected size is larger than the partition', async () => {
    const file = disk('glance-big.img', 2 * MIB);
    const source = streamOf(randomBytes(1000));
    const w = new ImageWriter(new RecordingRunner());
    await expect(
      w.writeRaw({ source, target: file, offsetBytes: 0, maxBytes: 999, expected: { size: 1000 } }),
    ).rejects.toThrow(ImageTooLarge);
    expect(readFileSync(file).every((b) => b === 0xee)).toBe(true);
  });

  it('detects a checksum mismatch, naming each field that differs', async () => {
    const image = randomBytes(100_000);
    const file = disk('bad-sum.img', MIB);
    const w = new ImageWriter(new RecordingRunner());
    const err = await w
      .writeRaw({
        source: streamOf(image),
        target: file,
        offsetBytes: 0,
        maxBytes: MIB,
        expected: { size: image.length + 1, md5: md5(image), sha512: sha512(Buffer.from('other')) },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageChecksumMismatch);
    expect((err as ImageChecksumMismatch).differences).toEqual([
      `size is ${image.length} bytes, expected ${image.length + 1}`,
      `sha512 is ${sha512(image)}, expected ${sha512(Buffer.from('other'))}`,
    ]);
    expect((err as Error).name).toBe('ImageChecksumMismatch');
    const md5Only = await w
      .writeRaw({ source: streamOf(image), target: file, offsetBytes: 0, maxBytes: MIB, expected: { md5: '00' } })
      .catch((e: unknown) => e);
    expect((md5Only as ImageChecksumMismatch).differences).toEqual([`md5 is ${md5(image)}, expected 00`]);
  });

  it('fails when the source errors mid-way, keeping the cause', async () => {
    const file = disk('broken.img', 4 * MIB);
    const boom = new Error('connection reset by Glance');
    const source = Readable.from(
      (async function* () {
        yield randomBytes(MIB);
        yield randomBytes(MIB);
        throw boom;
      })(),
    );
    const w = new ImageWriter(new RecordingRunner(), { bufferBytes: MIB });
    const err = await w.writeRaw({ source, target: file, offsetBytes: 0, maxBytes: 4 * MIB }).catch((e) => e);
    expect(err).toBeInstanceOf(ImageWriteFailed);
    expect((err as Error).message).toBe(
      'reading the image failed after 2097152 bytes written: connection reset by Glance',
    );
    expect((err as Error).cause).toBe(boom);
  });

  it('fails on a target that does not exist (never creates it) and on bad numbers', async () => {
    const w = new ImageWriter(new RecordingRunner());
    const missing = join(dir, 'missing.img');
    await expect(
      w.writeRaw({ source: streamOf(Buffer.alloc(10)), target: missing, offsetBytes: 0, maxBytes: 10 }),
    ).rejects.toThrow(`cannot open ${missing} for writing`);
    expect(() => statSync(missing)).toThrow();
    await expect(
      w.writeRaw({ source: streamOf(Buffer.alloc(10)), target: missing, offsetBytes: -1, maxBytes: 0.5 }),
    ).rejects.toThrow(InvalidDiskParameter);
  });

  it('streams 256 MiB with bounded memory (rss grows well under 64 MiB)', async () => {
    const total = 256 * MIB;
    const file = disk('big.img', MIB);
    const pattern = randomBytes(MIB);
    let produced = 0;
    const source = new Readable({
      highWaterMark: MIB,
      read() {
        if (produced >= total) return void this.push(null);
        // a fresh chunk each time, as a network stream would deliver
        const chunk = Buffer.from(pattern);
        chunk.writeUInt32BE(produced / MIB, 0);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const expectedSha512 = createHash('sha512');
    for (let i = 0; i < 256; i++) {
      const chunk = Buffer.from(pattern);
      chunk.writeUInt32BE(i, 0);
      expectedSha512.update(chunk);
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const w = new ImageWriter(new RecordingRunner(), { progressBytes: 16 * MIB });
    const r = await w.writeRaw({
      source,
      target: file,
      offsetBytes: MIB, // the file grows: a sparse-file disk's partition past its current end
      maxBytes: total,
      onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)),
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(r.bytes).toBe(total);
    expect(r.sha512).toBe(expectedSha512.digest('hex'));
    expect(statSync(file).size).toBe(MIB + total);
    expect(peak - before).toBeLessThan(64 * MIB);
  }, 120_000);
});

describe('ImageWriter.writeQcow2', () => {
  const info = (o: Record<string, unknown>) => ({
    stdout: JSON.stringify({ format: 'qcow2', 'virtual-size': 32 * MIB, filename: '/img/x.qcow2', ...o }),
  });

  it('checks qemu-img info, then converts into the byte range through --target-image-opts', async () => {
    const r = new RecordingRunner([info({}), {}]);
    const out = await new ImageWriter(r).writeQcow2({
      sourcePath: '/img/x.qcow2',
      target: '/run/lun,1.raw',
      offsetBytes: 15 * MIB,
      sizeBytes: 32 * MIB,
    });
    expect(out.virtualSize).toBe(32 * MIB);
    expect(r.calls).toEqual([
      { program: 'qemu-img', args: ['info', '--output=json', '/img/x.qcow2'] },
      {
        program: 'qemu-img',
        args: [
          'convert',
          '-n',
          '-t',
          'writeback',
          '-f',
          'qcow2',
          '/img/x.qcow2',
          '--target-image-opts',
          `driver=raw,offset=${15 * MIB},size=${32 * MIB},file.driver=file,file.filename=/run/lun,,1.raw`,
        ],
      },
    ]);
  });

  it('refuses a virtual size larger than the partition before converting', async () => {
    const r = new RecordingRunner([info({ 'virtual-size': 32 * MIB + 1 })]);
    const w = new ImageWriter(r);
    const err = await w
      .writeQcow2({ sourcePath: '/img/x.qcow2', target: '/d', offsetBytes: 0, sizeBytes: 32 * MIB })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLarge);
    expect((err as ImageTooLarge).imageBytes).toBe(32 * MIB + 1);
    expect(r.calls).toHaveLength(1);
  });

  it.each([
    ['a raw file', { format: 'raw' }, '/img/x.qcow2 is raw, not qcow2'],
    ['a backing file', { 'backing-filename': '/etc/shadow' }, 'has a backing file (/etc/shadow)'],
    ['no virtual size', { 'virtual-size': 'big' }, 'has no valid virtual-size'],
  ])('refuses %s', async (_n, o, message) => {
    const r = new RecordingRunner([info(o)]);
    const p = new ImageWriter(r).writeQcow2({ sourcePath: '/img/x.qcow2', target: '/d', offsetBytes: 0, sizeBytes: 1 });
    await expect(p).rejects.toThrow(InvalidImage);
    await expect(p).rejects.toThrow(message);
    expect(r.calls).toHaveLength(1);
  });

  it('a failing qemu-img is a CommandFailed', async () => {
    const r = new RecordingRunner([info({}), { code: 1, stderr: 'qemu-img: output file is smaller than input file' }]);
    await expect(
      new ImageWriter(r).writeQcow2({ sourcePath: '/img/x.qcow2', target: '/d', offsetBytes: 0, sizeBytes: 64 * MIB }),
    ).rejects.toThrow('output file is smaller than input file');
  });
});
