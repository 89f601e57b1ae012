/**
 * A bare UDP endpoint speaking TFTP packets by hand, to drive the server through the cases real
 * clients never produce (duplicate ACKs, silence, foreign TIDs, mid-window ACKs).
 */
import { createSocket, type Socket } from 'node:dgram';
import { type TftpPacket, decodePacket, encodePacket } from '../src/packet';

export interface Received {
  packet: TftpPacket;
  raw: Buffer;
  port: number;
  at: number;
}

export class RawPeer {
  private readonly queue: Received[] = [];
  private waiter?: () => void;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (raw, r) => {
      let packet: TftpPacket;
      try {
        packet = decodePacket(raw);
      } catch (e) {
        packet = { type: 'ERROR', code: -1, message: `undecodable: ${String(e)}` };
      }
      this.queue.push({ packet, raw, port: r.port, at: Date.now() });
      this.waiter?.();
    });
  }

  static async open(): Promise<RawPeer> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    return new RawPeer(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Resolves once the datagram left (so closing right after does not cancel it). */
  send(port: number, p: TftpPacket | Buffer): Promise<void> {
    return new Promise((resolve) =>
      this.socket.send(Buffer.isBuffer(p) ? p : encodePacket(p), port, '127.0.0.1', () => resolve()),
    );
  }

  /** The next datagram, or an error after `timeoutMs`. */
  async receive(timeoutMs = 2000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1_000_000; i++) {
      const r = this.queue.shift();
      if (r) return r;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    throw new Error(`nothing received in ${timeoutMs} ms`);
  }

  /** Everything that arrives during `ms`. */
  async collect(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/**
 * Downloads `file` acknowledging every `windowsize`-th block (or the last), reassembling by
 * absolute block number across the 65535 → 0 wrap. Returns the bytes and the server's TID.
 */
export async function rawDownload(
  serverPort: number,
  file: string,
  options: Record<string, string> = {},
  mode: 'octet' | 'netascii' = 'octet',
): Promise<{ data: Buffer; tid: number; oack?: Map<string, string>; packets: number }> {
  const peer = await RawPeer.open();
  try {
    peer.send(serverPort, { type: 'RRQ', filename: file, mode, options: new Map(Object.entries(options)) });
    let blksize = 512;
    let windowsize = 1;
    let first = await peer.receive();
    let oack: Map<string, string> | undefined;
    const tid = first.port;
    if (first.packet.type === 'OACK') {
      oack = first.packet.options;
      blksize = Number(oack.get('blksize') ?? 512);
      windowsize = Number(oack.get('windowsize') ?? 1);
      peer.send(tid, { type: 'ACK', block: 0 });
      first = await peer.receive();
    }
    const chunks: Buffer[] = [];
    let expected = 1; // absolute
    let packets = 0;
    for (let r: Received | undefined = first; r;) {
      packets++;
      if (r.packet.type === 'ERROR') throw new Error(`ERROR ${r.packet.code}: ${r.packet.message}`);
      if (r.packet.type !== 'DATA') throw new Error(`unexpected ${r.packet.type}`);
      if (r.packet.block === (expected & 0xffff)) {
        chunks.push(r.packet.data);
        const last = r.packet.data.length < blksize;
        if (last || expected % windowsize === 0) await peer.send(tid, { type: 'ACK', block: expected & 0xffff });
        if (last) break;
        expected++;
      }
      r = await peer.receive();
    }
    return { data: Buffer.concat(chunks), tid, oack, packets };
  } finally {
    await peer.close();
  }
}
