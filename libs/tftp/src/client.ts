/**
 * A TFTP read client (RFC 1350, options RFC 2347, blksize RFC 2348, tsize RFC 2349), as a PXE
 * ROM or pxelinux fetches its files: RRQ in octet mode asking for `blksize` and `tsize 0`, the
 * server's OACK acknowledged with ACK 0, every DATA block acknowledged in lock-step, the last one
 * (shorter than the block size) ending the transfer, its length checked against the tsize the
 * server announced.
 *
 * Two layers: TftpReadTransfer is the pure protocol (datagram in, datagrams out; no sockets, no
 * timers: the caller says when a timeout passed), tftpGet drives it over a UDP socket.
 */
import { createSocket, type Socket } from 'node:dgram';
import { namedError } from '@bm/core';
import { TftpErrorCode, TftpPacketError } from './errors';
import { literalLookup } from './literal-lookup';
import { DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE } from './options';
import { type TftpPacket, decodePacket, encodePacket, errorPacket } from './packet';

/** Why a read failed: an ERROR from the server (`code` set), a timeout, or a server breaking the protocol. */
export class TftpTransferFailed extends namedError('TftpTransferFailed', 'failed') {
  constructor(
    message: string,
    /** The server's TFTP error code, when it sent an ERROR. */
    readonly code?: number,
  ) {
    super(message);
  }
}

export interface TftpReadOptions {
  /** Block size asked for (RFC 2348; default 1468, pxelinux's); 512 sends no blksize option. */
  blksize?: number;
  /** Ask for the file's size (RFC 2349 `tsize 0`) and check the bytes received against it (default true). */
  tsize?: boolean;
  /** Largest file accepted: a larger one is refused with ERROR 3 (default: no limit). */
  maxBytes?: number;
  /** Retransmissions without an answer before the transfer fails (default 5). */
  retries?: number;
  /**
   * Count the bytes and drop them (default false: the result carries the file). For a client
   * that only checks sizes, as a simulated PXE firmware fetching a kernel does: memory stays flat
   * whatever the file's size and the number of transfers at once.
   */
  discard?: boolean;
}

/** What to do after one event: datagrams to send, and the outcome once the transfer is over. */
export interface TftpStep {
  /** Each to `port`, or to the server's transfer port (the request port before it is known) when unset. */
  send: { data: Buffer; port?: number }[];
  /** Set once: the file (empty when discarded) and its size, or why there is none. */
  result?: { ok: true; data: Buffer; bytes: number } | { ok: false; error: TftpTransferFailed };
}

type State = 'requested' | 'transferring' | 'done' | 'failed';

/**
 * One read transfer. start() gives the RRQ; then receive() for every datagram (with the port it
 * came from) and timeout() whenever nothing came for the retransmission interval, until a step
 * carries a result. After the result every call returns an empty step.
 */
export class TftpReadTransfer {
  private state: State = 'requested';
  private tid?: number;
  private readonly requested: Map<string, string>;
  private readonly request: Buffer;
  private lastSent: Buffer;
  /** The absolute number of the next DATA block expected (from 1; the wire carries it mod 65536). */
  private expected = 1;
  private readonly chunks: Buffer[] = [];
  private silent = 0;
  private readonly maxRetries: number;
  /** Bytes received so far. */
  bytes = 0;
  /** The block size in force (512 until an OACK says otherwise). */
  blksize = DEFAULT_BLKSIZE;
  /** The size the server announced (OACK tsize), if it did. */
  tsize?: number;
  /** Datagrams sent again after a timeout or a duplicate. */
  retransmits = 0;

  constructor(
    readonly filename: string,
    private readonly o: TftpReadOptions = {},
  ) {
    const blksize = o.blksize ?? 1468;
    if (!Number.isInteger(blksize) || blksize < MIN_BLKSIZE || blksize > MAX_BLKSIZE)
      throw new RangeError(`blksize must be an integer in ${MIN_BLKSIZE}..${MAX_BLKSIZE}, got ${blksize}`);
    this.maxRetries = o.retries ?? 5;
    this.requested = new Map();
    if (blksize !== DEFAULT_BLKSIZE) this.requested.set('blksize', String(blksize));
    if (o.tsize ?? true) this.requested.set('tsize', '0');
    this.request = encodePacket({ type: 'RRQ', filename, mode: 'octet', options: this.requested });
    this.lastSent = this.request;
  }

  /** The RRQ, to the server's request port (69). */
  start(): Buffer {
    return this.request;
  }

  /** The server's transfer port (its TID), once its first answer came. */
  get serverPort(): number | undefined {
    return this.tid;
  }

  get finished(): boolean {
    return this.state === 'done' || this.state === 'failed';
  }

  /** Nothing came for one retransmission interval: send the last datagram again, or give up. */
  timeout(): TftpStep {
    if (this.finished) return { send: [] };
    if (++this.silent > this.maxRetries) {
      const what = this.state === 'requested' ? 'no answer to the request' : `no DATA block ${this.expected}`;
      return this.fail(`${this.filename}: ${what} after ${this.maxRetries} retransmissions`);
    }
    this.retransmits++;
    return { send: [{ data: this.lastSent }] };
  }

  receive(datagram: Buffer, port: number): TftpStep {
    if (this.finished) return { send: [] };
    if (this.tid !== undefined && port !== this.tid) {
      // RFC 1350 §4: a packet from another TID gets ERROR 5 there; our transfer goes on.
      return { send: [{ data: errorPacket(TftpErrorCode.UNKNOWN_TID), port }] };
    }
    let p: TftpPacket;
    try {
      p = decodePacket(datagram);
    } catch (e) {
      if (!(e instanceof TftpPacketError)) throw e;
      if (this.tid === undefined) return { send: [] }; // not our server's answer: wait for it
      return this.fail(
        `${this.filename}: malformed packet from the server (${e.message})`,
        TftpErrorCode.ILLEGAL_OPERATION,
      );
    }
    const first = this.tid === undefined;
    this.tid = port;
    switch (p.type) {
      case 'ERROR':
        this.state = 'failed';
        return {
          send: [],
          result: {
            ok: false,
            error: new TftpTransferFailed(`${this.filename}: TFTP error ${p.code}: ${p.message}`, p.code),
          },
        };
      case 'OACK':
        return this.oack(p.options, first);
      case 'DATA':
        return this.data(p.block, p.data);
      default:
        return this.fail(`${this.filename}: unexpected ${p.type} from the server`, TftpErrorCode.ILLEGAL_OPERATION);
    }
  }

  private oack(options: Map<string, string>, first: boolean): TftpStep {
    if (!first) {
      // Our ACK 0 was lost and the server sent its OACK again: acknowledge it again.
      if (this.expected === 1 && this.bytes === 0) return this.resend();
      return { send: [] };
    }
    for (const [name, value] of options) {
      if (!this.requested.has(name))
        return this.fail(`${this.filename}: the server acknowledged option ${name}, never asked for`, 8);
      const n = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
      if (name === 'blksize') {
        if (!(n >= MIN_BLKSIZE && n <= Number(this.requested.get('blksize'))))
          return this.fail(`${this.filename}: blksize ${value} in the OACK is not what was asked for`, 8);
        this.blksize = n;
      } else if (name === 'tsize') {
        if (!Number.isSafeInteger(n)) return this.fail(`${this.filename}: tsize ${value} is not a size`, 8);
        if (this.o.maxBytes !== undefined && n > this.o.maxBytes)
          return this.fail(`${this.filename}: ${n} bytes, more than the ${this.o.maxBytes} accepted`, 3);
        this.tsize = n;
      }
    }
    this.state = 'transferring';
    return this.ack(0);
  }

  private data(block: number, data: Buffer): TftpStep {
    if (block !== (this.expected & 0xffff)) {
      // The block before the expected one again: our ACK was lost; acknowledge it again.
      if (block === ((this.expected - 1) & 0xffff) && this.state === 'transferring') return this.resend();
      return { send: [] };
    }
    if (data.length > this.blksize)
      return this.fail(
        `${this.filename}: DATA block ${block} carries ${data.length} bytes, blksize is ${this.blksize}`,
        4,
      );
    this.state = 'transferring';
    if (!this.o.discard) this.chunks.push(data);
    this.bytes += data.length;
    if (this.o.maxBytes !== undefined && this.bytes > this.o.maxBytes)
      return this.fail(`${this.filename}: more than the ${this.o.maxBytes} bytes accepted`, 3);
    const step = this.ack(this.expected & 0xffff);
    this.expected++;
    if (data.length === this.blksize) return step;
    if (this.tsize !== undefined && this.bytes !== this.tsize) {
      this.state = 'failed';
      const error = new TftpTransferFailed(`${this.filename}: ${this.bytes} bytes received, tsize was ${this.tsize}`);
      return { send: step.send, result: { ok: false, error } };
    }
    this.state = 'done';
    return { send: step.send, result: { ok: true, data: Buffer.concat(this.chunks), bytes: this.bytes } };
  }

  private ack(block: number): TftpStep {
    this.silent = 0;
    this.lastSent = encodePacket({ type: 'ACK', block });
    return { send: [{ data: this.lastSent }] };
  }

  private resend(): TftpStep {
    this.retransmits++;
    return { send: [{ data: this.lastSent }] };
  }

  /** Fails the transfer; with `code`, the server is told so with an ERROR. */
  private fail(message: string, code?: number): TftpStep {
    this.state = 'failed';
    const send =
      code !== undefined && this.tid !== undefined ? [{ data: errorPacket(code, message.slice(0, 200)) }] : [];
    return { send, result: { ok: false, error: new TftpTransferFailed(message) } };
  }
}

export interface TftpGetOptions extends TftpReadOptions {
  /** The server's request port (default 69). */
  port?: number;
  /** Bind the client's socket to this address (the node's own; default any). */
  localAddress?: string;
  /** Retransmission interval (default 1000 ms). */
  timeoutMs?: number;
  /** Called with the bytes received so far, after each block. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface TftpGetResult {
  /** The file; empty with `discard`. */
  data: Buffer;
  /** Bytes received. */
  bytes: number;
  /** The size the server announced with tsize, if it did. */
  tsize?: number;
  blksize: number;
  retransmits: number;
  durationMs: number;
}

/** Reads `filename` from the TFTP server at `server`; rejects with TftpTransferFailed (or the signal's reason). */
export async function tftpGet(server: string, filename: string, o: TftpGetOptions = {}): Promise<TftpGetResult> {
  o.signal?.throwIfAborted();
  const started = Date.now();
  const t = new TftpReadTransfer(filename, o);
  const socket: Socket = createSocket({ type: 'udp4', lookup: literalLookup });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, o.localAddress, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const requestPort = o.port ?? 69;
  try {
    return await new Promise<TftpGetResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (e?: unknown, data?: Buffer, bytes = 0) => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (e !== undefined) reject(e);
        else
          resolve({
            data: data!,
            bytes,
            ...(t.tsize !== undefined ? { tsize: t.tsize } : {}),
            blksize: t.blksize,
            retransmits: t.retransmits,
            durationMs: Date.now() - started,
          });
      };
      const onAbort = () => finish(o.signal!.reason);
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => apply(t.timeout()), o.timeoutMs ?? 1000);
      };
      const apply = (step: TftpStep) => {
        for (const d of step.send) socket.send(d.data, d.port ?? t.serverPort ?? requestPort, server);
        if (step.result?.ok) finish(undefined, step.result.data, step.result.bytes);
        else if (step.result) finish(step.result.error);
        // The retransmission clock restarts with each datagram to the server, not with noise.
        else if (step.send.some((d) => d.port === undefined)) arm();
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('error', (e) => finish(new TftpTransferFailed(`${filename}: ${e.message}`)));
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== server) return;
        const before = t.bytes;
        apply(t.receive(msg, rinfo.port));
        if (t.bytes !== before) o.onProgress?.(t.bytes);
      });
      socket.send(t.start(), requestPort, server);
      arm();
    });
  } finally {
    await new Promise<void>((r) => socket.close(() => r()));
  }
}
