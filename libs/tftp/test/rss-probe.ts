/**
 * What never-acknowledging clients cost the TFTP server: starts a TftpServer on 127.0.0.1 over a
 * 16 MiB file, sends COUNT requests (default 150) for it with the largest blksize and windowsize,
 * each from its own loopback address (127.0.1.x, so the per-client limit does not hide the cost),
 * answers nothing, and prints the server process's RSS before and after; then the bytes sent back
 * to one unanswered 16-byte request without options (timeouts shortened to 100 ms, counts unchanged).
 * Run: node -r ts-node/register/transpile-only -r tsconfig-paths/register libs/tftp/test/rss-probe.ts
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodePacket } from '../src/packet';
import { TftpServer } from '../src/server';

const COUNT = Number(process.env.COUNT ?? 150);
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tftp-rss-'));
  writeFileSync(join(root, 'big.bin'), randomBytes(16 * 1024 * 1024));
  const server = new TftpServer({ address: '127.0.0.1', port: 0, root });
  await server.start();
  const sockets: Socket[] = [];
  /** Bytes a fresh server sends to `rrq` from one socket that never answers (until it gives up). */
  const unanswered = async (rrq: Buffer): Promise<number> => {
    const quick = new TftpServer({ address: '127.0.0.1', port: 0, root, defaultTimeoutMs: 100, maxTimeoutMs: 800 });
    await quick.start();
    const s = createSocket('udp4');
    let bytes = 0;
    s.on('message', (m) => (bytes += m.length));
    await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
    s.send(rrq, quick.port, '127.0.0.1');
    for (let i = 0; i < 100 && (bytes === 0 || quick.activeTransfers > 0); i++) await pause(100);
    await pause(200);
    s.close();
    await quick.stop();
    return bytes;
  };
  try {
    global.gc?.();
    await pause(200);
    const before = process.memoryUsage().rss;
    const rrq = encodePacket({
      type: 'RRQ',
      filename: 'big.bin',
      mode: 'octet',
      options: new Map([
        ['blksize', '65464'],
        ['windowsize', '64'],
        ['tsize', '0'],
      ]),
    });
    for (let i = 0; i < COUNT; i++) {
      const s = createSocket('udp4');
      await new Promise<void>((ok) => s.bind(0, `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, ok));
      sockets.push(s);
      s.send(rrq, server.port, '127.0.0.1');
    }
    await pause(2000); // the read-ahead of every transfer has landed by now
    const after = process.memoryUsage().rss;
    console.log(
      `${COUNT} unacknowledged requests: RSS ${mb(before)} before, ${mb(after)} after (+${mb(after - before)}), ${server.activeTransfers} transfers open`,
    );
    console.log(`bytes sent to one such request (${rrq.length} bytes), unanswered: ${await unanswered(rrq)}`);
    const plain = Buffer.from('\0\x01big.bin\0octet\0', 'latin1');
    console.log(`bytes sent to one ${plain.length}-byte request without options: ${await unanswered(plain)}`);
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
