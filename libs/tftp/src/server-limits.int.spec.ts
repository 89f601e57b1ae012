import { randomBytes } from 'node:crypto';
import { ManualClock } from '@bm/core';
import { RawPeer } from '../test/raw-peer';
import type { FileProvider, TftpFile } from './provider';
import { TftpServer, type TftpServerOptions, type TransferStats } from './server';

// What a request costs before its client shows it is there, and the limits on what many cost:
// our server on 127.0.0.1, a hand-driven UDP peer, a provider that records every read.
const BIG = randomBytes(8 * 1024 * 1024);

describe('TftpServer limits (raw UDP peer)', () => {
  const servers: TftpServer[] = [];
  const peers: RawPeer[] = [];
  /** [offset, length] of every read of the served file. */
  let reads: [number, number][];

  const provider: FileProvider = {
    open: async (path) => {
      if (path !== 'big.bin') return undefined;
      const f: TftpFile = {
        size: BIG.length,
        read: async (offset, length) => {
          reads.push([offset, length]);
          return BIG.subarray(offset, offset + length);
        },
        close: async () => undefined,
      };
      return f;
    },
  };
  async function server(o: Partial<TftpServerOptions> = {}) {
    const stats: TransferStats[] = [];
    const s = new TftpServer({ address: '127.0.0.1', port: 0, provider, onTransfer: (x) => stats.push(x), ...o });
    await s.start();
    servers.push(s);
    const ended = async (n = 1) => {
      for (let i = 0; i < 400 && stats.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      return stats;
    };
    return { s, stats, ended };
  }
  async function peer() {
    const p = await RawPeer.open();
    peers.push(p);
    return p;
  }
  const bigOptions = new Map([
    ['blksize', '65464'],
    ['windowsize', '64'],
    ['tsize', '0'],
  ]);

  beforeEach(() => (reads = []));
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('an OACK that is never acknowledged reads nothing; ACK 0 starts the reads', async () => {
    const { s } = await server();
    const p = await peer();
    await p.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: bigOptions });
    const o = await p.receive();
    expect(o.packet.type).toBe('OACK');
    await p.collect(50);
    expect(reads).toEqual([]);
    await p.send(o.port, { type: 'ACK', block: 0 });
    await p.receive();
    expect(reads.length).toBeGreaterThan(0);
  });

  it('without options, only the first block is read until the client acknowledges it', async () => {
    const { s } = await server();
    const p = await peer();
    await p.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: new Map() });
    const d1 = await p.receive();
    expect(d1.packet).toMatchObject({ type: 'DATA', block: 1 });
    await p.collect(50);
    expect(Math.max(...reads.map(([, n]) => n))).toBe(512); // block 1, and block 2 read ahead
    await p.send(d1.port, { type: 'ACK', block: 1 });
    await p.receive();
    await p.collect(50);
    expect(reads.map(([, n]) => n)).toContain(128 * 1024); // full chunks now
  });

  it('one unacknowledged 16-byte request gets DATA 1 three times and a timeout ERROR: 1560 bytes', async () => {
    const clock = new ManualClock(1_000_000);
    const { s, ended } = await server({ clock });
    const p = await peer();
    const rrq = Buffer.from('\0\x01big.bin\0octet\0', 'latin1');
    expect(rrq.length).toBe(16);
    await p.send(s.port, rrq);
    const got = [await p.receive()];
    for (const t of [1000, 2000, 4000]) {
      clock.advance(t);
      got.push(await p.receive());
    }
    expect(got.map((g) => g.packet.type)).toEqual(['DATA', 'DATA', 'DATA', 'ERROR']);
    expect(got.reduce((n, g) => n + g.raw.length, 0)).toBe(3 * 516 + 12);
    const [st] = await ended();
    expect(st).toMatchObject({
      outcome: 'timeout',
      retransmits: 2,
      error: expect.stringMatching(/after 2 retransmissions/),
    });
    clock.advance(60_000);
    expect(await p.collect(50)).toEqual([]);
  });

  it('once the client has acknowledged a block, the full retries apply', async () => {
    const clock = new ManualClock(1_000_000);
    const { s, ended } = await server({ clock, retries: 4 });
    const p = await peer();
    await p.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: new Map() });
    const d1 = await p.receive();
    await p.send(d1.port, { type: 'ACK', block: 1 });
    expect((await p.receive()).packet).toMatchObject({ type: 'DATA', block: 2 });
    for (const t of [1000, 2000, 4000, 8000]) {
      clock.advance(t);
      expect((await p.receive()).packet).toMatchObject({ type: 'DATA', block: 2 });
    }
    clock.advance(8000);
    expect((await p.receive()).packet).toMatchObject({ type: 'ERROR', message: 'timeout' });
    expect((await ended())[0]).toMatchObject({ outcome: 'timeout', retransmits: 4 });
  });

  it('limits the transfers of one client address', async () => {
    const { s, stats } = await server({ maxTransfersPerClient: 2 });
    const ps = [await peer(), await peer(), await peer()];
    for (const p of ps) await p.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: bigOptions });
    const first = await Promise.all(ps.map((p) => p.receive()));
    expect(first.map((g) => g.packet.type)).toEqual(['OACK', 'OACK', 'ERROR']);
    expect(first[2].packet).toEqual({
      type: 'ERROR',
      code: 0,
      message: 'server busy: too many transfers from your address',
    });
    expect(s.activeTransfers).toBe(2);
    // One ends: the address may start another.
    await ps[0].send(first[0].port, { type: 'ERROR', code: 0, message: 'done' });
    for (let i = 0; i < 100 && stats.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await ps[2].send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: bigOptions });
    expect((await ps[2].receive()).packet.type).toBe('OACK');
  });

  it('the read-ahead budget shrinks chunks, and refuses a transfer when not one block fits', async () => {
    const { s } = await server({ readAheadBudget: 3 * 65464 });
    const a = await peer();
    await a.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: bigOptions });
    const oa = await a.receive();
    await a.send(oa.port, { type: 'ACK', block: 0 });
    await a.collect(100);
    // 4 MiB wanted; one block per chunk fits (two chunks are held).
    expect(Math.max(...reads.map(([, n]) => n))).toBe(65464);
    const b = await peer();
    await b.send(s.port, { type: 'RRQ', filename: 'big.bin', mode: 'octet', options: bigOptions });
    const ob = await b.receive();
    await b.send(ob.port, { type: 'ACK', block: 0 });
    expect((await b.receive()).packet).toEqual({
      type: 'ERROR',
      code: 0,
      message: 'server busy: out of read-ahead memory',
    });
  });

  it('clips a long file name in the ERROR packet and in the stats', async () => {
    const { s, ended } = await server();
    const p = await peer();
    const name = `${'x'.repeat(20_000)}.bin`;
    await p.send(s.port, { type: 'RRQ', filename: name, mode: 'octet', options: new Map() });
    const e = await p.receive();
    expect(e.packet).toMatchObject({ type: 'ERROR', code: 1 });
    expect(e.raw.length).toBeLessThanOrEqual(4 + 160 + 1);
    const [st] = await ended();
    expect(st.file.length).toBeLessThanOrEqual(128);
    expect(st.file).toMatch(/^x+\.\.\.$/);
    expect((st.error ?? '').length).toBeLessThanOrEqual(160);
  });
});
