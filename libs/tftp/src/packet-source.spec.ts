import { randomBytes } from 'node:crypto';
import { toNetascii } from './netascii';
import { decodePacket } from './packet';
import { PacketSource } from './packet-source';
import { type TftpFile, bufferFile } from './provider';

/** The packets of `src` up to the last one (or `limit` of them), waiting for reads as the transfer does. */
async function drain(src: PacketSource, blksize: number, limit = 100_000): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let k = 1; k <= limit; k++) {
    let p = src.next(k & 0xffff);
    for (let i = 0; p === undefined && i < 1000; i++) {
      await src.wait();
      p = src.next(k & 0xffff);
    }
    if (p === undefined) throw new Error(`block ${k} never came`);
    out.push(p);
    if (p.length - 4 < blksize) return out;
  }
  return out;
}

/** The blocks a transfer of `payload` must carry: full blocks, then a short (maybe empty) one. */
function expectedBlocks(payload: Buffer, blksize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; ; at += blksize) {
    const b = payload.subarray(at, at + blksize);
    out.push(b);
    if (b.length < blksize) return out;
  }
}

function checkPackets(packets: Buffer[], payload: Buffer, blksize: number): void {
  const want = expectedBlocks(payload, blksize);
  expect(packets.length).toBe(want.length);
  let bad: string | undefined;
  packets.forEach((p, i) => {
    if (bad !== undefined) return;
    const d = decodePacket(p);
    if (d.type !== 'DATA' || d.block !== ((i + 1) & 0xffff) || !d.data.equals(want[i]))
      bad = `packet ${i + 1} is wrong`;
  });
  expect(bad).toBeUndefined();
}

/** A file whose reads resolve only when the test says so (or fail). */
function manualFile(content: Buffer): TftpFile & {
  pending: { offset: number; length: number; resolve: () => void; reject: (e: Error) => void }[];
  reads: number;
} {
  const f = {
    size: content.length,
    reads: 0,
    pending: [] as { offset: number; length: number; resolve: () => void; reject: (e: Error) => void }[],
    read(offset: number, length: number): Promise<Buffer> {
      f.reads++;
      return new Promise<Buffer>((resolve, reject) => {
        f.pending.push({ offset, length, resolve: () => resolve(content.subarray(offset, offset + length)), reject });
      });
    },
    close: async () => undefined,
  };
  return f;
}

describe('PacketSource', () => {
  it.each([
    ['shorter than a block', 300, 512],
    ['several blocks and a short one', 5000, 512],
    ['an exact multiple: ends with an empty block', 4096, 512],
    ['empty: one empty block', 0, 512],
    ['blksize 1468 across many chunks', 1_000_000, 1468],
    ['blksize 8', 1000, 8],
  ])('octet, %s', async (_, size, blksize) => {
    const content = randomBytes(size);
    const packets = await drain(new PacketSource(bufferFile(content), blksize, false, 4096), blksize);
    checkPackets(packets, content, blksize);
  });

  it('block numbers wrap modulo 65536 (the caller passes them)', async () => {
    const content = randomBytes(70_000 * 8 + 3);
    const packets = await drain(new PacketSource(bufferFile(content), 8, false, 64 * 1024), 8);
    expect(packets).toHaveLength(70_001);
    checkPackets(packets, content, 8);
    expect(packets[65535].readUInt16BE(2)).toBe(0);
  });

  it('netascii: converted per chunk, blocks straddle chunk boundaries', async () => {
    const text = Buffer.from('line one\nline two\r\n\rX\n'.repeat(500));
    const packets = await drain(new PacketSource(bufferFile(text), 512, true, 1000), 512);
    checkPackets(packets, toNetascii(text), 512);
  });

  it('packets are never rewritten: earlier packets keep their bytes while later ones are built', async () => {
    const content = randomBytes(300_000);
    const src = new PacketSource(bufferFile(content), 512, false, 8192);
    const first = await drain(src, 512, 1);
    const copy = Buffer.from(first[0]);
    const rest = await drain(src, 512);
    expect(first[0].equals(copy)).toBe(true);
    // No two packets share bytes.
    const all = [...first, ...rest];
    const ranges = all.map((p) => [p.buffer, p.byteOffset, p.byteOffset + p.length] as const);
    for (let i = 1; i < ranges.length; i++) {
      const [b, s] = ranges[i];
      const [pb, , pe] = ranges[i - 1];
      if (b === pb) expect(s).toBeGreaterThanOrEqual(pe);
    }
  });

  it('reads one chunk ahead: next() answers undefined only while the data is not read yet', async () => {
    const content = randomBytes(4 * 1024 + 100);
    const f = manualFile(content);
    const src = new PacketSource(f, 512, false, 1024);
    expect(f.reads).toBe(1); // the first chunk is requested at once
    expect(src.next(1)).toBeUndefined();
    f.pending.shift()!.resolve();
    await src.wait();
    expect(src.next(1)).toBeDefined();
    expect(f.reads).toBe(2); // using chunk 1 asked for chunk 2
    expect(src.next(2)).toBeDefined();
    expect(src.next(3)).toBeUndefined(); // chunk 2 is still in flight
    expect(f.pending).toHaveLength(1);
    expect(f.pending[0]).toMatchObject({ offset: 1024, length: 1024 });
    f.pending.shift()!.resolve();
    await src.wait();
    expect(src.next(3)).toBeDefined();
  });

  it('a read error is thrown by next()', async () => {
    const f = manualFile(randomBytes(5000));
    const src = new PacketSource(f, 512, false, 1024);
    f.pending.shift()!.reject(new Error('EIO'));
    await src.wait();
    expect(() => src.next(1)).toThrow('EIO');
  });

  it('a short read ends the file there (it shrank since it was opened)', async () => {
    const content = randomBytes(3000);
    const file: TftpFile = {
      size: 10_000,
      read: async (o, l) => content.subarray(Math.min(o, content.length), Math.min(o + l, content.length)),
      close: async () => undefined,
    };
    const packets = await drain(new PacketSource(file, 512, false, 2048), 512);
    checkPackets(packets, content, 512);
  });

  it('never sends more than the size the file had when opened', async () => {
    const content = randomBytes(3000);
    const file: TftpFile = {
      size: 1000,
      read: async (o, l) => content.subarray(o, o + l + 50),
      close: async () => undefined,
    };
    const packets = await drain(new PacketSource(file, 512, false, 4096), 512);
    checkPackets(packets, content.subarray(0, 1000), 512);
  });
});
