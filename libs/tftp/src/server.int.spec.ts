import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManualClock } from '@bm/core';
import { RawPeer, rawDownload } from '../test/raw-peer';
import { TftpErrorCode } from './errors';
import { fromNetascii } from './netascii';
import { MemoryFileProvider } from './provider';
import { TftpServer, type TftpServerOptions, type TransferStats } from './server';

// Our server on 127.0.0.1 driven by a hand-written UDP peer: the protocol corners.
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('TftpServer protocol (raw UDP peer)', () => {
  let dir: string;
  const servers: TftpServer[] = [];
  const peers: RawPeer[] = [];
  const files: Record<string, Buffer> = {};

  async function server(o: Partial<TftpServerOptions> = {}) {
    const stats: TransferStats[] = [];
    const s = new TftpServer({ address: '127.0.0.1', port: 0, root: dir, onTransfer: (x) => stats.push(x), ...o });
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

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tftp-int-'));
    files['small.bin'] = randomBytes(1300);
    files['exact.bin'] = randomBytes(1024); // 2 × 512: ends with an empty block
    files['empty.bin'] = Buffer.alloc(0);
    files['wrap.bin'] = randomBytes(70_000 * 8 + 3); // 70 001 blocks of 8 bytes: wraps past 65535
    files['text.cfg'] = Buffer.from('DEFAULT linux\nLABEL linux\r\n  KERNEL vmlinuz\rX\n');
    for (const [n, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, n), b);
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('without options: DATA 1 straight away, lockstep, from a new port (TID)', async () => {
    const { s, ended } = await server();
    const r = await rawDownload(s.port, 'small.bin');
    expect(r.oack).toBeUndefined();
    expect(r.tid).not.toBe(s.port);
    expect(sha(r.data)).toBe(sha(files['small.bin']));
    const [st] = await ended();
    expect(st).toMatchObject({
      outcome: 'complete',
      bytes: 1300,
      blocks: 3,
      retransmits: 0,
      blksize: 512,
      windowsize: 1,
      file: 'small.bin',
      path: 'small.bin',
    });
    expect(s.activeTransfers).toBe(0);
  });

  it('a size that is a multiple of blksize ends with an empty block; an empty file is one empty block', async () => {
    const { s } = await server();
    const a = await rawDownload(s.port, 'exact.bin');
    expect(a.packets).toBe(3);
    expect(a.data).toEqual(files['exact.bin']);
    const b = await rawDownload(s.port, 'empty.bin', { tsize: '0' });
    expect(b.oack).toBeUndefined(); // no "tsize 0" (curl refuses it): straight to the empty DATA 1
    expect(b.data.length).toBe(0);
  });

  it('OACK carries only requested and accepted options', async () => {
    const { s } = await server({ maxBlksize: 1024 });
    const r = await rawDownload(s.port, 'small.bin', {
      blksize: '4096',
      tsize: '0',
      foo: 'bar',
      windowsize: '4',
      timeout: '0',
    });
    expect(r.oack).toEqual(
      new Map([
        ['blksize', '1024'],
        ['tsize', '1300'],
        ['windowsize', '4'],
      ]),
    );
    expect(r.data).toEqual(files['small.bin']);
  });

  it('wraps block numbers past 65535 (blksize 8, windowsize 64)', async () => {
    const { s, ended } = await server();
    const r = await rawDownload(s.port, 'wrap.bin', { blksize: '8', windowsize: '64' });
    expect(sha(r.data)).toBe(sha(files['wrap.bin']));
    const [st] = await ended();
    expect(st).toMatchObject({ outcome: 'complete', blocks: 70_001, bytes: files['wrap.bin'].length, retransmits: 0 });
  }, 20_000);

  it("duplicate ACKs are ignored (no Sorcerer's Apprentice)", async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 3000 });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const d1 = await p.receive();
    expect(d1.packet).toMatchObject({ type: 'DATA', block: 1 });
    p.send(d1.port, { type: 'ACK', block: 1 });
    p.send(d1.port, { type: 'ACK', block: 1 });
    p.send(d1.port, { type: 'ACK', block: 0 });
    p.send(d1.port, { type: 'ACK', block: 9 }); // never sent: ignored
    const got = await p.collect(150);
    expect(got.map((g) => g.packet)).toEqual([expect.objectContaining({ type: 'DATA', block: 2 })]);
    p.send(d1.port, { type: 'ACK', block: 2 });
    const d3 = await p.receive();
    expect(d3.packet).toMatchObject({ type: 'DATA', block: 3 });
    p.send(d1.port, { type: 'ACK', block: 3 });
    const [st] = await ended();
    expect(st).toMatchObject({ outcome: 'complete', retransmits: 0, blocks: 3 });
  });

  it('windowsize: an ACK inside the window resumes from the block after it', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 3000 });
    const p = await peer();
    p.send(s.port, {
      type: 'RRQ',
      filename: 'wrap.bin',
      mode: 'octet',
      options: new Map([
        ['blksize', '8'],
        ['windowsize', '4'],
      ]),
    });
    const o = await p.receive();
    expect(o.packet).toEqual({
      type: 'OACK',
      options: new Map([
        ['blksize', '8'],
        ['windowsize', '4'],
      ]),
    });
    p.send(o.port, { type: 'ACK', block: 0 });
    const w1 = await p.collect(100);
    expect(w1.map((g) => (g.packet.type === 'DATA' ? g.packet.block : -1))).toEqual([1, 2, 3, 4]);
    p.send(o.port, { type: 'ACK', block: 2 }); // "lost" 3
    const w2 = await p.collect(100);
    expect(w2.map((g) => (g.packet.type === 'DATA' ? g.packet.block : -1))).toEqual([3, 4, 5, 6]);
    expect(w2[0].raw.subarray(4)).toEqual(files['wrap.bin'].subarray(16, 24));
    p.send(o.port, { type: 'ACK', block: 2 }); // stale now
    expect(await p.collect(100)).toEqual([]);
    p.send(o.port, { type: 'ERROR', code: 0, message: 'enough' });
    const [st] = await ended();
    expect(st).toMatchObject({
      outcome: 'aborted',
      error: 'client sent ERROR 0: enough',
      blocks: 2,
      bytes: 16,
      retransmits: 2,
    });
  });

  it('retransmits with exponential backoff, then gives up and releases the transfer', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 40, retries: 3, unconfirmedRetries: 3 });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const [st] = await ended();
    const got = await p.collect(50);
    const data = got.filter((g) => g.packet.type === 'DATA');
    expect(data.map((g) => g.packet)).toEqual(Array(4).fill(expect.objectContaining({ type: 'DATA', block: 1 })));
    expect(new Set(data.map((g) => g.port)).size).toBe(1);
    const gaps = data.slice(1).map((g, i) => g.at - data[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(70);
    expect(gaps[2]).toBeGreaterThanOrEqual(140);
    expect(gaps[2]).toBeGreaterThan(gaps[0] * 2);
    expect(got[got.length - 1].packet).toEqual({ type: 'ERROR', code: 0, message: 'timeout' });
    expect(st).toMatchObject({ outcome: 'timeout', retransmits: 3, blocks: 0 });
    expect(s.activeTransfers).toBe(0);
  });

  it('backs off and gives up by the server clock: 1 s, 2 s, 4 s, 8 s, then the transfer ends', async () => {
    const clock = new ManualClock(1_000_000);
    const { s, ended } = await server({
      defaultTimeoutMs: 1000,
      maxTimeoutMs: 8000,
      retries: 3,
      unconfirmedRetries: 3,
      clock,
    });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    expect((await p.receive()).packet).toMatchObject({ type: 'DATA', block: 1 });
    for (const timeout of [1000, 2000, 4000]) {
      clock.advance(timeout - 1);
      expect(await p.collect(30)).toEqual([]); // 1 ms early: nothing
      clock.advance(1);
      expect((await p.receive()).packet).toMatchObject({ type: 'DATA', block: 1 });
    }
    clock.advance(7999);
    expect(await p.collect(30)).toEqual([]);
    clock.advance(1);
    expect((await p.receive()).packet).toEqual({ type: 'ERROR', code: 0, message: 'timeout' });
    const [st] = await ended();
    expect(st).toMatchObject({
      outcome: 'timeout',
      error: 'no acknowledgement after 3 retransmissions (15000 ms)',
      retransmits: 3,
      durationMs: 15_000,
    });
    expect(s.activeTransfers).toBe(0);
  });

  it('the retransmission timeout counts from the last DATA sent, not from the first', async () => {
    // Each ACK comes after 60% of the timeout: the transfer outlasts several timeouts without one.
    const { s, ended } = await server({ defaultTimeoutMs: 250 });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const seen: number[] = [];
    for (let k = 1; k <= 3; k++) {
      const d = await p.receive();
      expect(d.packet).toMatchObject({ type: 'DATA', block: k });
      seen.push(...(await p.collect(150)).map((g) => (g.packet.type === 'DATA' ? g.packet.block : -1)));
      p.send(d.port, { type: 'ACK', block: k });
    }
    const [st] = await ended();
    expect(seen).toEqual([]);
    expect(st).toMatchObject({ outcome: 'complete', retransmits: 0, blocks: 3 });
    // Silence after a block: the retransmission comes one timeout after that block, not sooner.
    const q = await peer();
    q.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const d1 = await q.receive();
    await new Promise((r) => setTimeout(r, 150));
    q.send(d1.port, { type: 'ACK', block: 1 });
    const d2 = await q.receive();
    const again = await q.receive(1000);
    expect(again.packet).toMatchObject({ type: 'DATA', block: 2 });
    expect(again.at - d2.at).toBeGreaterThanOrEqual(230);
    q.send(d1.port, { type: 'ERROR', code: 0, message: 'enough' });
    expect((await ended(2))[1]).toMatchObject({ outcome: 'aborted', retransmits: 1 });
  });

  it('an unacknowledged OACK is retransmitted too', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 30, retries: 2 });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map([['tsize', '0']]) });
    expect((await ended())[0]).toMatchObject({ outcome: 'timeout', retransmits: 2 });
    const got = await p.collect(50);
    expect(got.map((g) => g.packet.type)).toEqual(['OACK', 'OACK', 'OACK', 'ERROR']);
  });

  it('a packet from a foreign TID gets ERROR 5 and does not disturb the transfer', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 3000 });
    const p = await peer();
    const stranger = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const d1 = await p.receive();
    stranger.send(d1.port, { type: 'ACK', block: 1 });
    expect((await stranger.receive()).packet).toMatchObject({ type: 'ERROR', code: TftpErrorCode.UNKNOWN_TID });
    expect(await p.collect(50)).toEqual([]);
    for (let b = 1; b <= 3; b++) {
      p.send(d1.port, { type: 'ACK', block: b });
      if (b < 3) expect((await p.receive()).packet).toMatchObject({ type: 'DATA', block: b + 1 });
    }
    expect((await ended())[0].outcome).toBe('complete');
  });

  it('a malformed packet from the client ends the transfer with ERROR 4', async () => {
    const { s, ended } = await server();
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const d1 = await p.receive();
    p.send(d1.port, Buffer.from([0, 4, 0]));
    expect((await p.receive()).packet).toMatchObject({ type: 'ERROR', code: TftpErrorCode.ILLEGAL_OPERATION });
    expect((await ended())[0]).toMatchObject({ outcome: 'error', error: expect.stringMatching(/truncated ACK/) });
  });

  it('answers garbage and stray packets on the request port with ERROR 4, never an ERROR', async () => {
    const { s, stats } = await server();
    const p = await peer();
    p.send(s.port, Buffer.from([0, 1, 0x66]));
    expect((await p.receive()).packet).toMatchObject({
      type: 'ERROR',
      code: 4,
      message: expect.stringMatching(/NUL-terminated/),
    });
    p.send(s.port, Buffer.from('\x00\x01f\x00mail\x00', 'latin1'));
    expect((await p.receive()).packet).toMatchObject({
      type: 'ERROR',
      code: 4,
      message: expect.stringMatching(/mode "mail"/),
    });
    p.send(s.port, { type: 'ACK', block: 1 });
    expect((await p.receive()).packet).toMatchObject({ type: 'ERROR', code: 4 });
    p.send(s.port, { type: 'ERROR', code: 0, message: 'x' });
    p.send(s.port, Buffer.from([0, 5, 0]));
    expect(await p.collect(100)).toEqual([]);
    expect(stats).toEqual([]);
  });

  it('WRQ is refused with ERROR 2 (read-only) and nothing is written', async () => {
    const { s, ended } = await server();
    const p = await peer();
    p.send(s.port, { type: 'WRQ', filename: 'upload.bin', mode: 'octet', options: new Map() });
    const r = await p.receive();
    expect(r.packet).toMatchObject({
      type: 'ERROR',
      code: TftpErrorCode.ACCESS_VIOLATION,
      message: expect.stringMatching(/access violation/),
    });
    expect((await ended())[0]).toMatchObject({ outcome: 'error', request: 'WRQ' });
    expect(fs.existsSync(path.join(dir, 'upload.bin'))).toBe(false);
  });

  it('errors: not found → 1, escape → 2', async () => {
    const { s, ended } = await server();
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'missing', mode: 'octet', options: new Map() });
    expect((await p.receive()).packet).toMatchObject({ type: 'ERROR', code: 1 });
    p.send(s.port, { type: 'RRQ', filename: '../../etc/passwd', mode: 'octet', options: new Map() });
    expect((await p.receive()).packet).toMatchObject({ type: 'ERROR', code: 2 });
    expect((await ended(2)).map((x) => x.outcome)).toEqual(['error', 'error']);
  });

  it('netascii: converted on the wire, tsize not offered', async () => {
    const { s } = await server();
    const r = await rawDownload(s.port, 'text.cfg', { tsize: '0', blksize: '16' }, 'netascii');
    expect(r.oack).toEqual(new Map([['blksize', '16']]));
    expect(r.data.toString('latin1')).toBe('DEFAULT linux\r\nLABEL linux\r\0\r\n  KERNEL vmlinuz\r\0X\r\n');
    expect(fromNetascii(r.data)).toEqual(files['text.cfg']);
  });

  it('a retransmitted RRQ does not start a second transfer; a different one from the same TID replaces it', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 3000 });
    const p = await peer();
    const rrq = { type: 'RRQ' as const, filename: 'small.bin', mode: 'octet' as const, options: new Map() };
    p.send(s.port, rrq);
    p.send(s.port, rrq);
    const got = await p.collect(100);
    expect(got.map((g) => g.packet.type)).toEqual(['DATA']);
    expect(s.activeTransfers).toBe(1);
    p.send(s.port, { ...rrq, filename: 'exact.bin' });
    const d = await p.receive();
    expect(d.port).not.toBe(got[0].port);
    expect((await ended())[0]).toMatchObject({ outcome: 'aborted', error: 'client restarted the request' });
    expect(s.activeTransfers).toBe(1);
  });

  it('serves from a provider alone (generated content)', async () => {
    let n = 0;
    const { s } = await server({
      root: undefined,
      provider: new MemoryFileProvider({ 'pxelinux.cfg/default': () => `DEFAULT gen${++n}\n` }),
    });
    expect((await rawDownload(s.port, 'pxelinux.cfg/default')).data.toString()).toBe('DEFAULT gen1\n');
    expect((await rawDownload(s.port, '/pxelinux.cfg\\default')).data.toString()).toBe('DEFAULT gen2\n');
    await expect(rawDownload(s.port, 'small.bin')).rejects.toThrow(/ERROR 1/);
  });

  it('a provider that fails or never answers ends the transfer with ERROR 0', async () => {
    const { s, ended } = await server({
      root: undefined,
      defaultTimeoutMs: 20,
      retries: 1,
      provider: {
        open: (p: string) => (p === 'hang' ? new Promise(() => undefined) : Promise.reject(new Error('disk on fire'))),
      },
    });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'boom', mode: 'octet', options: new Map() });
    expect((await p.receive()).packet).toEqual({ type: 'ERROR', code: 0, message: 'server error: disk on fire' });
    p.send(s.port, { type: 'RRQ', filename: 'hang', mode: 'octet', options: new Map() });
    expect((await p.receive()).packet).toEqual({
      type: 'ERROR',
      code: 0,
      message: 'file provider did not answer within 60 ms',
    });
    expect((await ended(2)).map((x) => x.outcome)).toEqual(['error', 'error']);
    expect(s.activeTransfers).toBe(0);
  });

  it('stop() aborts transfers (ERROR 0 to the client) and closes every socket', async () => {
    const { s, ended } = await server({ defaultTimeoutMs: 3000 });
    const p = await peer();
    p.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    await p.receive();
    expect(s.activeTransfers).toBe(1);
    await s.stop();
    expect(s.activeTransfers).toBe(0);
    expect((await p.receive()).packet).toEqual({ type: 'ERROR', code: 0, message: 'server shutting down' });
    expect((await ended())[0].outcome).toBe('aborted');
  });

  it('refuses beyond maxTransfers', async () => {
    const { s } = await server({ maxTransfers: 1, defaultTimeoutMs: 3000 });
    const a = await peer();
    const b = await peer();
    a.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    await a.receive();
    b.send(s.port, { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() });
    const r = await b.receive();
    expect(r.packet).toEqual({ type: 'ERROR', code: 0, message: 'server busy' });
    expect(r.port).toBe(s.port);
  });

  it('validates its options', () => {
    expect(() => new TftpServer({ port: 0 })).toThrow(/root or a provider/);
    expect(() => new TftpServer({ port: 70000, root: dir })).toThrow(RangeError);
    expect(() => new TftpServer({ port: 0, root: dir, maxBlksize: 4 })).toThrow(RangeError);
    expect(() => new TftpServer({ port: 0, root: dir, retries: -1 })).toThrow(RangeError);
  });
});
