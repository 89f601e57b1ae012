/**
 * The DATA packets of one read transfer, built ahead of need so the lock-step hot path stays
 * synchronous: the file is read in large chunks (one read ahead of the chunk being cut into
 * blocks), converted to netascii per chunk when asked, and each block is copied once into its own
 * packet buffer (4-byte header + payload), cut from an arena shared by the packets of about
 * 64 KiB of the file. A packet is never written again after `next` returned
 * it, so the transfer may keep it for retransmission and hand it to `socket.send` without waiting
 * for the send callback.
 */
import { toNetascii } from './netascii';
import { Opcode } from './packet';
import type { TftpFile } from './provider';

const EMPTY = Buffer.alloc(0);
/** Bytes per packet arena. */
const ARENA = 64 * 1024;

export class PacketSource {
  /** The chunk being cut into blocks, and the first byte not yet in a packet. */
  private src: Buffer = EMPTY;
  private srcPos = 0;
  /** File offset of the next read to issue. */
  private issued = 0;
  /** No read is left to issue (the last one was issued, or a read came back short). */
  private eof = false;
  private inflight?: Promise<void>;
  /** The chunk read ahead (converted), waiting for `src` to run out. */
  private ready?: Buffer;
  private failed = false;
  private error: unknown;
  private chunk: number;
  /** Bytes of the read in flight (not yet in `ready`). */
  private inflightBytes = 0;
  private arena: Buffer = EMPTY;
  private arenaPos = 0;

  constructor(
    private readonly file: TftpFile,
    private readonly blksize: number,
    private readonly netascii: boolean,
    chunk: number,
  ) {
    // In octet mode a chunk that is a whole number of blocks never leaves a block straddling two chunks.
    this.chunk = Math.max(blksize, Math.ceil(chunk / blksize) * blksize);
    this.readAhead();
  }

  /**
   * Reads `chunk` bytes at a time from the next read on (a transfer starts small and grows once
   * its client has answered).
   */
  grow(chunk: number): void {
    this.chunk = Math.max(this.chunk, Math.ceil(chunk / this.blksize) * this.blksize);
  }

  /** Reads the next chunk unless one is already read or in flight (or the file is exhausted). */
  private readAhead(): void {
    if (this.eof || this.inflight !== undefined || this.ready !== undefined || this.failed) return;
    const size = this.file.size;
    const want = Math.min(this.chunk, size - this.issued);
    if (want <= 0) {
      this.eof = true;
      return;
    }
    const at = this.issued;
    this.issued += want;
    this.inflightBytes = want;
    let read: Promise<Buffer>;
    try {
      read = this.file.read(at, want);
    } catch (e) {
      read = Promise.reject(e);
    }
    this.inflight = read.then(
      (raw) => {
        this.inflight = undefined;
        this.inflightBytes = 0;
        const got = raw.length > want ? raw.subarray(0, want) : raw;
        if (got.length < want || at + got.length >= size) this.eof = true;
        this.ready = this.netascii ? toNetascii(got) : got;
      },
      (e: unknown) => {
        this.inflight = undefined;
        this.inflightBytes = 0;
        this.failed = true;
        this.error = e;
      },
    );
  }

  /**
   * DATA packet `block` (the next one in sequence; the number goes on the wire modulo 65536),
   * or `undefined` when it needs data still being read (await `wait()` and call again).
   * A payload shorter than blksize marks the last block. Throws the read error, if any.
   */
  next(block: number): Buffer | undefined {
    const bs = this.blksize;
    let avail = this.src.length - this.srcPos;
    while (avail < bs) {
      const ready = this.ready;
      if (ready !== undefined) {
        this.src = avail === 0 ? ready : Buffer.concat([this.src.subarray(this.srcPos), ready]);
        this.srcPos = 0;
        this.ready = undefined;
        this.readAhead();
        avail = this.src.length;
        continue;
      }
      if (this.failed) throw this.error;
      if (this.inflight !== undefined) return undefined;
      break; // nothing more to come: a short (possibly empty) last block
    }
    const len = avail < bs ? avail : bs;
    const p = this.take(4 + len);
    p[0] = 0;
    p[1] = Opcode.DATA;
    p[2] = (block >>> 8) & 0xff;
    p[3] = block & 0xff;
    this.src.copy(p, 4, this.srcPos, this.srcPos + len);
    this.srcPos += len;
    if (this.srcPos === this.src.length) {
      this.src = EMPTY; // let the chunk go as soon as it is cut
      this.srcPos = 0;
    }
    return p;
  }

  /**
   * A packet buffer of `n` bytes cut from the current arena (one allocation per ~64 KiB of
   * packets, sized down for what is left of a small file). Arena bytes are handed out once.
   */
  private take(n: number): Buffer {
    if (this.arenaPos + n > this.arena.length) {
      const bs = this.blksize;
      // Payload still to come (netascii may double it), as whole packets plus the final one.
      const left =
        (this.file.size - this.issued + this.inflightBytes) * (this.netascii ? 2 : 1) +
        (this.src.length - this.srcPos) +
        (this.ready?.length ?? 0);
      const packets = Math.floor(left / bs) + 1;
      // No larger than a chunk: a transfer reading one block at a time allocates for one block.
      const size = Math.max(n, Math.min(packets * (bs + 4), Math.max(Math.min(ARENA, this.chunk), bs + 4)));
      this.arena = Buffer.allocUnsafeSlow(size);
      this.arenaPos = 0;
    }
    const p = this.arena.subarray(this.arenaPos, this.arenaPos + n);
    this.arenaPos += n;
    return p;
  }

  /** Settles when `next` may make progress again (a read finished or failed). */
  wait(): Promise<void> {
    return this.inflight ?? Promise.resolve();
  }
}
