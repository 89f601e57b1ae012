/**
 * A read-only TFTP server (RFC 1350 with RFC 2347/2348/2349 options and RFC 7440 windows),
 * for PXE: every transfer runs on its own ephemeral UDP socket (its TID), retransmits with
 * exponential backoff and is dropped (socket and timer released) after `retries` silent timeouts.
 *
 * A request costs little until its client shows it is there (a request's source address is not
 * proof of anything): nothing is read ahead before the OACK is acknowledged (ACK 0), a first DATA
 * packet without options is read alone, the first packet is sent again only `unconfirmedRetries`
 * times, and each client address holds a few transfers at most. Read-ahead buffers of all
 * transfers share one memory budget.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Clock, systemClock, setClockTimeout } from '@bm/core';
import { TftpError, TftpErrorCode, TftpPacketError } from './errors';
import { FsFileProvider } from './fs-provider';
import { literalLookup } from './literal-lookup';
import { negotiateOptions, resolveLimits } from './options';
import {
  MAX_ERROR_TEXT,
  Opcode,
  type RequestPacket,
  type TftpMode,
  clip,
  decodePacket,
  encodePacket,
  errorPacket,
} from './packet';
import { PacketSource } from './packet-source';
import { normalizeRequestPath } from './paths';
import { type FileProvider, LayeredFileProvider, type TftpFile } from './provider';

export type TransferOutcome = 'complete' | 'timeout' | 'error' | 'aborted';

export interface TransferStats {
  /** `address:port` of the client (its TID). */
  client: string;
  /** The file name as the client sent it. */
  file: string;
  /** The normalized relative path, once the name passed confinement. */
  path?: string;
  request: 'RRQ' | 'WRQ';
  mode: TftpMode;
  /** Payload bytes acknowledged by the client (after netascii conversion). */
  bytes: number;
  /** Blocks acknowledged by the client. */
  blocks: number;
  /** Packets sent again (DATA and OACK) after a timeout or a go-back. */
  retransmits: number;
  durationMs: number;
  outcome: TransferOutcome;
  error?: string;
  /** Negotiated values (defaults when not negotiated). */
  blksize: number;
  windowsize: number;
  tsize?: number;
}

export interface TftpServerOptions {
  /** Address to bind (default 0.0.0.0); on a multi-homed PXE host give the boot network's address. */
  address?: string;
  /** UDP port (69 in production, 0 = ephemeral). */
  port: number;
  /** Directory served; with `provider` too, the provider is consulted first. */
  root?: string;
  /** Absolute paths that also name `root` in requests (e.g. `/tftpboot`). */
  rootAliases?: readonly string[];
  provider?: FileProvider;
  /** blksize cap, 8..65464 (default 65464). */
  maxBlksize?: number;
  /** windowsize cap, 1..65535 (default 64). */
  maxWindowsize?: number;
  /** First retransmission timeout when the client sends no timeout option (default 1000 ms). */
  defaultTimeoutMs?: number;
  /** Backoff ceiling (default 8000 ms, or the negotiated timeout if larger). */
  maxTimeoutMs?: number;
  /** Retransmissions without progress before the transfer is dropped (default 5). */
  retries?: number;
  /**
   * Retransmissions of the first packet (OACK or DATA 1) before the client acknowledged anything
   * (default 2, at most `retries`): a request from a forged address gets little back.
   */
  unconfirmedRetries?: number;
  /** Concurrent transfers; beyond, requests get ERROR 0 "server busy" (default 512). */
  maxTransfers?: number;
  /** Concurrent transfers per client address; beyond, requests get ERROR 0 "server busy" (default 8). */
  maxTransfersPerClient?: number;
  /**
   * Bytes of file read ahead by all transfers together (default 64 MiB): a transfer reads in
   * chunks, two held at most, made smaller when the budget runs short; a client that does not fit
   * one block gets ERROR 0 "server busy".
   */
  readAheadBudget?: number;
  onTransfer?: (stats: TransferStats) => void;
  /** Times retransmissions, the file provider's budget and transfer durations (default: the system clock). */
  clock?: Clock;
}

function clientKey(r: { address: string; port: number }): string {
  return isIPv6(r.address) ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface ServerContext {
  address: string;
  family: 'udp4' | 'udp6';
  provider: FileProvider;
  aliases: readonly string[];
  maxBlksize: number;
  maxWindowsize: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  retries: number;
  unconfirmedRetries: number;
  budget: ReadAheadBudget;
  clock: Clock;
  ended(t: Transfer, stats: TransferStats): void;
}

/** Longest file name echoed in logs (TransferStats.file); error texts are clipped to MAX_ERROR_TEXT. */
const MAX_LOGGED_NAME = 128;

/** The read-ahead memory shared by all transfers: two chunks reserved per transfer. */
class ReadAheadBudget {
  private used = 0;

  constructor(private readonly limit: number) {}

  /** Reserves two chunks of at most `want` bytes, a multiple of `unit`; 0 when one unit does not fit. */
  take(want: number, unit: number): number {
    const chunk = Math.min(want, Math.floor((this.limit - this.used) / 2 / unit) * unit);
    if (chunk < unit) return 0;
    this.used += 2 * chunk;
    return chunk;
  }

  give(chunk: number): void {
    this.used -= 2 * chunk;
  }
}

type State = 'starting' | 'oack' | 'data' | 'done';

const noop = (): void => undefined;

/**
 * One read transfer. The per-block path (ACK in, DATA out) is synchronous: packets come from a
 * PacketSource that reads ahead, sends carry no callback (a packet buffer is never rewritten, so
 * there is nothing to wait for), and the retransmission timer is one timer per timeout period,
 * not per block: arm() only moves a deadline, which the timer checks when it fires.
 */
class Transfer {
  readonly key: string;
  readonly address: string;
  private state: State = 'starting';
  private socket?: Socket;
  private bound = false;
  private file?: TftpFile;
  private source?: PacketSource;
  /** Cancels the pending timer (the file provider's budget, then retransmission), if any. */
  private cancelTimer?: () => void;
  /** When the retransmission timer is due (the server's clock). */
  private deadline = 0;
  private readonly started: number;
  private path?: string;
  private blksize = 512;
  private windowsize = 1;
  private tsize?: number;
  private oack?: Buffer;
  /** Read-ahead chunk wanted once the client is confirmed, and the one reserved in the budget. */
  private chunk = 0;
  private reserved = 0;
  /** The client acknowledged something (ACK 0 of the OACK, or a DATA block). */
  private confirmed = false;
  private baseTimeoutMs: number;
  private timeoutMs: number;
  private attempts = 0;
  /** First unacknowledged block (absolute, 1-based; the wire carries it modulo 65536). */
  private base = 1;
  private highestSent = 0;
  private produced = 0;
  private lastBlock?: number;
  /** Packets base … produced (at most windowsize of them), block k at k % windowsize. */
  private ring: (Buffer | undefined)[] = [];
  /** The window pass in progress: next block to send, and the last one it sends. */
  private cursor = 1;
  private windowEnd = 0;
  /** A pass is paused until the source has read more. */
  private waiting = false;
  private bytes = 0;
  private retransmits = 0;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(
    private readonly ctx: ServerContext,
    private readonly client: RemoteInfo,
    private readonly req: RequestPacket,
    readonly raw: Buffer,
  ) {
    this.key = clientKey(client);
    this.address = client.address;
    this.started = ctx.clock.now();
    this.baseTimeoutMs = ctx.defaultTimeoutMs;
    this.timeoutMs = ctx.defaultTimeoutMs;
  }

  get done(): boolean {
    return this.state === 'done';
  }

  async run(): Promise<void> {
    try {
      const s = createSocket({ type: this.ctx.family, lookup: literalLookup });
      this.socket = s;
      s.on('message', (m, r) => this.onMessage(m, r));
      s.on('error', (e) => this.finish('error', `socket error: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        s.once('listening', resolve);
        s.once('error', reject);
        s.once('close', () => reject(new Error('closed')));
        s.bind(0, this.ctx.address);
      });
      this.bound = true;
      if (this.done) return;
      if (this.req.type === 'WRQ')
        return this.fail(TftpErrorCode.ACCESS_VIOLATION, 'access violation: this server is read-only');
      this.path = normalizeRequestPath(this.req.filename, this.ctx.aliases);
      // A provider that never answers must not pin the transfer: give it as long as the client would wait.
      let budget = 0;
      for (
        let i = 0, t = this.baseTimeoutMs;
        i <= this.ctx.retries;
        i++, t = Math.min(t * 2, Math.max(this.ctx.maxTimeoutMs, this.baseTimeoutMs))
      )
        budget += t;
      this.cancelTimer = setClockTimeout(this.ctx.clock, budget, () =>
        this.fail(TftpErrorCode.NOT_DEFINED, `file provider did not answer within ${budget} ms`),
      );
      const file = await this.ctx.provider.open(this.path);
      this.cancelTimer?.(); // gone if the budget ran out meanwhile
      this.cancelTimer = undefined;
      if (this.done) {
        await file?.close().catch(() => undefined);
        return;
      }
      if (file === undefined) return this.fail(TftpErrorCode.FILE_NOT_FOUND, `file not found: ${this.path}`);
      this.file = file;
      const n = negotiateOptions(this.req.options, {
        mode: this.req.mode,
        fileSize: file.size,
        maxBlksize: this.ctx.maxBlksize,
        maxWindowsize: this.ctx.maxWindowsize,
      });
      this.blksize = n.blksize;
      this.windowsize = n.windowsize;
      this.tsize = n.tsize;
      this.ring = new Array<Buffer | undefined>(this.windowsize);
      if (n.timeoutMs !== undefined) this.baseTimeoutMs = this.timeoutMs = n.timeoutMs;
      // Chunks are read one ahead of use, so two of them are held at most.
      const window = this.blksize * this.windowsize;
      const chunk = Math.min(Math.max(window, 128 * 1024), 4 * 1024 * 1024);
      this.chunk = Math.ceil(chunk / this.blksize) * this.blksize;
      if (n.oack.size > 0) {
        // Nothing is read until the client acknowledges the OACK.
        this.state = 'oack';
        this.oack = encodePacket({ type: 'OACK', options: n.oack });
        this.send(this.oack);
        this.arm();
      } else {
        // DATA 1 goes out unasked: read only the first window until the client answers.
        if (!this.openSource(window)) return;
        this.state = 'data';
        this.sendWindow();
      }
    } catch (e) {
      if (this.done) return;
      if (e instanceof TftpError) this.fail(e.code, e.message);
      else this.fail(TftpErrorCode.NOT_DEFINED, `server error: ${messageOf(e)}`);
    }
  }

  /** Ends the transfer from outside (server stop, client restarted with the same TID). */
  abort(reason: string, notify: boolean): void {
    this.finish('aborted', reason, notify ? errorPacket(TftpErrorCode.NOT_DEFINED, reason) : undefined);
  }

  private send(b: Buffer): void {
    const s = this.socket;
    if (!s || this.done) return;
    try {
      // No callback: a failed send is covered by retransmission, and `b` is never rewritten.
      s.send(b, this.client.port, this.client.address);
    } catch {
      /* socket closing */
    }
  }

  private onMessage(msg: Buffer, r: RemoteInfo): void {
    if (this.done) return;
    if (r.port !== this.client.port || r.address !== this.client.address) {
      // RFC 1350: a packet from another TID is answered with ERROR 5 and does not disturb the transfer.
      try {
        this.socket?.send(errorPacket(TftpErrorCode.UNKNOWN_TID), r.port, r.address, noop);
      } catch {
        /* closing */
      }
      return;
    }
    // The common case without decodePacket's allocations: a well-formed ACK (exactly 4 bytes).
    if (msg.length === 4 && msg[0] === 0 && msg[1] === Opcode.ACK) return this.onAck((msg[2] << 8) | msg[3]);
    let p;
    try {
      p = decodePacket(msg);
    } catch (e) {
      return this.fail(TftpErrorCode.ILLEGAL_OPERATION, `malformed packet from client: ${messageOf(e)}`);
    }
    switch (p.type) {
      case 'ACK':
        return this.onAck(p.block);
      case 'ERROR':
        return this.finish('aborted', `client sent ERROR ${p.code}: ${p.message}`);
      default:
        return this.fail(TftpErrorCode.ILLEGAL_OPERATION, `unexpected ${p.type} from client`);
    }
  }

  /** The packet source, reading ahead `chunk` bytes at a time if the budget allows (else ERROR 0). */
  private openSource(chunk: number): boolean {
    this.reserved = this.ctx.budget.take(chunk, this.blksize);
    if (this.reserved === 0) {
      this.fail(TftpErrorCode.NOT_DEFINED, 'server busy: out of read-ahead memory');
      return false;
    }
    this.source = new PacketSource(this.file as TftpFile, this.blksize, this.req.mode === 'netascii', this.reserved);
    return true;
  }

  /** The client answered: from now on read ahead in full chunks (or what the budget allows). */
  private confirm(): void {
    this.confirmed = true;
    if (!this.source) return;
    this.ctx.budget.give(this.reserved);
    // At least the chunk just given back fits again.
    this.reserved = this.ctx.budget.take(this.chunk, this.blksize);
    this.source.grow(this.reserved);
  }

  private onAck(n: number): void {
    if (this.state === 'oack') {
      if (n !== 0) return; // stale or bogus: the OACK timer keeps running
      this.confirmed = true;
      if (!this.openSource(this.chunk)) return;
      this.state = 'data';
      this.progress();
      this.sendWindow();
      return;
    }
    if (this.state !== 'data') return;
    // The absolute block this ACK names, among base-1 … highestSent (≤ 65536 candidates: unique).
    const prev = this.base - 1;
    const k = prev + ((n - (prev & 0xffff)) & 0xffff);
    if (k > this.highestSent || k < this.base) return; // stale/duplicate ACK: ignored (no Sorcerer's Apprentice)
    const ring = this.ring;
    const ws = this.windowsize;
    for (let b = this.base; b <= k; b++) {
      const p = ring[b % ws];
      if (p !== undefined) {
        this.bytes += p.length - 4;
        ring[b % ws] = undefined;
      }
    }
    this.base = k + 1;
    if (!this.confirmed) this.confirm();
    this.progress();
    if (this.lastBlock !== undefined && k >= this.lastBlock) return this.finish('complete');
    this.sendWindow(); // resume from k+1 (RFC 7440: an ACK inside the window restarts after it)
  }

  private progress(): void {
    this.attempts = 0;
    this.timeoutMs = this.baseTimeoutMs;
  }

  /** Starts a pass over base … base+windowsize-1 (or up to the last block). */
  private sendWindow(): void {
    this.cursor = this.base;
    this.windowEnd = this.base + this.windowsize - 1;
    this.pump();
  }

  /** Sends the current pass from the cursor on; arms the timer once the pass is complete. */
  private pump(): void {
    if (this.waiting || this.done) return;
    const ring = this.ring;
    const ws = this.windowsize;
    try {
      for (; this.cursor <= this.windowEnd; this.cursor++) {
        const k = this.cursor;
        if (this.lastBlock !== undefined && k > this.lastBlock) break;
        let p = ring[k % ws];
        if (p === undefined) {
          if (k !== this.produced + 1 || !this.source) throw new Error(`block ${k} requested out of order`);
          p = this.source.next(k & 0xffff);
          if (p === undefined) return this.waitForData(this.source);
          this.produced = k;
          ring[k % ws] = p;
          if (p.length - 4 < this.blksize) this.lastBlock = k;
        }
        if (k <= this.highestSent) this.retransmits++;
        else this.highestSent = k;
        this.send(p);
      }
    } catch (e) {
      return this.fail(TftpErrorCode.NOT_DEFINED, `read error: ${messageOf(e)}`);
    }
    this.arm();
  }

  private waitForData(source: PacketSource): void {
    this.waiting = true;
    void source.wait().then(() => {
      this.waiting = false;
      this.pump();
    });
  }

  private arm(): void {
    if (this.done) return;
    this.deadline = this.ctx.clock.now() + this.timeoutMs;
    this.cancelTimer ??= setClockTimeout(this.ctx.clock, this.timeoutMs, this.onTimer);
  }

  private readonly onTimer = (): void => {
    this.cancelTimer = undefined;
    if (this.done) return;
    const left = this.deadline - this.ctx.clock.now();
    if (left >= 1) {
      this.cancelTimer = setClockTimeout(this.ctx.clock, Math.ceil(left), this.onTimer);
      return;
    }
    this.onTimeout();
  };

  private onTimeout(): void {
    this.attempts++;
    const retries = this.confirmed ? this.ctx.retries : this.ctx.unconfirmedRetries;
    if (this.attempts > retries) {
      const waited = this.ctx.clock.now() - this.started;
      return this.finish(
        'timeout',
        `no acknowledgement after ${retries} retransmissions (${waited} ms)`,
        errorPacket(TftpErrorCode.NOT_DEFINED, 'timeout'),
      );
    }
    this.timeoutMs = Math.min(this.timeoutMs * 2, Math.max(this.ctx.maxTimeoutMs, this.baseTimeoutMs));
    if (this.state === 'oack' && this.oack) {
      this.retransmits++;
      this.send(this.oack);
      this.arm();
    } else if (this.state === 'data') {
      this.sendWindow();
    }
  }

  private fail(code: TftpErrorCode, message: string): void {
    this.finish('error', message, errorPacket(code, message));
  }

  private finish(outcome: TransferOutcome, error?: string, last?: Buffer): void {
    if (this.done) return;
    this.state = 'done';
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.ring = [];
    this.ctx.budget.give(this.reserved);
    this.reserved = 0;
    const file = this.file;
    this.file = undefined;
    this.source = undefined;
    if (file)
      void Promise.resolve()
        .then(() => file.close())
        .catch(() => undefined);
    const s = this.socket;
    const close = (): void => {
      if (!s) return this.resolveClosed();
      try {
        s.close(() => this.resolveClosed());
      } catch {
        this.resolveClosed(); // already closed
      }
    };
    if (s && last && this.bound) {
      try {
        s.send(last, this.client.port, this.client.address, () => close());
      } catch {
        close();
      }
    } else close();
    const lastAcked = this.base - 1;
    this.ctx.ended(this, {
      client: this.key,
      file: clip(this.req.filename, MAX_LOGGED_NAME),
      path: this.path,
      request: this.req.type,
      mode: this.req.mode,
      bytes: this.bytes,
      blocks: lastAcked,
      retransmits: this.retransmits,
      durationMs: this.ctx.clock.now() - this.started,
      outcome,
      ...(error !== undefined ? { error: clip(error, MAX_ERROR_TEXT) } : {}),
      blksize: this.blksize,
      windowsize: this.windowsize,
      ...(this.tsize !== undefined ? { tsize: this.tsize } : {}),
    });
  }
}

export class TftpServer {
  private socket?: Socket;
  private readonly transfers = new Map<string, Transfer>();
  private readonly ctx: ServerContext;
  private readonly maxTransfers: number;
  private readonly maxPerClient: number;
  /** Client address → its transfers in `transfers`. */
  private readonly perClient = new Map<string, number>();
  private stopping = false;

  constructor(private readonly options: TftpServerOptions) {
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
      throw new RangeError(`bad port ${options.port}`);
    const address = options.address ?? '0.0.0.0';
    const layers: FileProvider[] = [];
    if (options.provider) layers.push(options.provider);
    const aliases: string[] = [];
    if (options.root !== undefined) {
      const fsProvider = new FsFileProvider({ root: options.root, aliases: options.rootAliases });
      layers.push(fsProvider);
      aliases.push(fsProvider.root, ...(options.rootAliases ?? []));
    }
    if (layers.length === 0) throw new Error('TftpServer needs a root or a provider');
    const limits = resolveLimits({ maxBlksize: options.maxBlksize, maxWindowsize: options.maxWindowsize });
    const positive = (v: number | undefined, d: number, what: string): number => {
      const x = v ?? d;
      if (!Number.isFinite(x) || x <= 0) throw new RangeError(`${what} must be > 0`);
      return x;
    };
    const retries = options.retries ?? 5;
    if (!Number.isInteger(retries) || retries < 0 || retries > 100)
      throw new RangeError('retries must be an integer in 0..100');
    this.maxTransfers = positive(options.maxTransfers, 512, 'maxTransfers');
    this.maxPerClient = positive(options.maxTransfersPerClient, 8, 'maxTransfersPerClient');
    const unconfirmedRetries = Math.min(options.unconfirmedRetries ?? 2, retries);
    if (!Number.isInteger(unconfirmedRetries) || unconfirmedRetries < 0)
      throw new RangeError('unconfirmedRetries must be an integer >= 0');
    this.ctx = {
      address,
      family: isIPv6(address) ? 'udp6' : 'udp4',
      provider: layers.length === 1 ? layers[0] : new LayeredFileProvider(layers),
      aliases,
      ...limits,
      defaultTimeoutMs: positive(options.defaultTimeoutMs, 1000, 'defaultTimeoutMs'),
      maxTimeoutMs: positive(options.maxTimeoutMs, 8000, 'maxTimeoutMs'),
      retries,
      unconfirmedRetries,
      budget: new ReadAheadBudget(positive(options.readAheadBudget, 64 * 1024 * 1024, 'readAheadBudget')),
      clock: options.clock ?? systemClock,
      ended: (t, stats) => {
        if (this.transfers.get(t.key) === t) {
          this.transfers.delete(t.key);
          const n = (this.perClient.get(t.address) ?? 1) - 1;
          if (n > 0) this.perClient.set(t.address, n);
          else this.perClient.delete(t.address);
        }
        try {
          this.options.onTransfer?.(stats);
        } catch {
          /* a failing observer must not break the server */
        }
      },
    };
  }

  /** The bound port (the requested one before start()). */
  get port(): number {
    return this.socket ? this.socket.address().port : this.options.port;
  }

  get address(): string {
    return this.ctx.address;
  }

  /** Transfers in progress (each holds one socket and at most one timer). */
  get activeTransfers(): number {
    return this.transfers.size;
  }

  async start(): Promise<void> {
    if (this.socket) throw new Error('TftpServer already started');
    this.stopping = false;
    const s = createSocket({ type: this.ctx.family });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.once('listening', () => {
        s.off('error', reject);
        resolve();
      });
      s.bind(this.options.port, this.ctx.address);
    });
    s.on('error', () => undefined); // UDP receive errors are not fatal
    s.on('message', (m, r) => this.onRequest(m, r));
    this.socket = s;
  }

  /** Closes the listening socket and every transfer (clients get ERROR 0). */
  async stop(): Promise<void> {
    this.stopping = true;
    const s = this.socket;
    this.socket = undefined;
    const transfers = [...this.transfers.values()];
    for (const t of transfers) t.abort('server shutting down', true);
    await Promise.all([
      ...transfers.map((t) => t.closed),
      new Promise<void>((resolve) => {
        if (!s) return resolve();
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      }),
    ]);
  }

  private reply(b: Buffer, r: RemoteInfo): void {
    try {
      this.socket?.send(b, r.port, r.address, () => undefined);
    } catch {
      /* closing */
    }
  }

  private onRequest(msg: Buffer, r: RemoteInfo): void {
    if (this.stopping) return;
    let req: RequestPacket;
    try {
      const p = decodePacket(msg);
      if (p.type === 'ERROR') return; // never answer an ERROR
      if (p.type !== 'RRQ' && p.type !== 'WRQ')
        return this.reply(errorPacket(TftpErrorCode.ILLEGAL_OPERATION, `unexpected ${p.type} on the request port`), r);
      req = p;
    } catch (e) {
      if (msg.length >= 2 && msg.readUInt16BE(0) === 5) return;
      const why = e instanceof TftpPacketError ? e.message : messageOf(e);
      return this.reply(errorPacket(TftpErrorCode.ILLEGAL_OPERATION, why), r);
    }
    const key = clientKey(r);
    const existing = this.transfers.get(key);
    if (existing) {
      if (existing.raw.equals(msg)) return; // a retransmitted request: the transfer already answers it
      existing.abort('client restarted the request', false);
    }
    if (this.transfers.size >= this.maxTransfers)
      return this.reply(errorPacket(TftpErrorCode.NOT_DEFINED, 'server busy'), r);
    const mine = this.perClient.get(r.address) ?? 0;
    if (mine >= this.maxPerClient)
      return this.reply(errorPacket(TftpErrorCode.NOT_DEFINED, 'server busy: too many transfers from your address'), r);
    const t = new Transfer(this.ctx, r, req, Buffer.from(msg));
    this.transfers.set(key, t);
    this.perClient.set(r.address, mine + 1);
    void t.run();
  }
}
