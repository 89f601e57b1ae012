/**
 * Writes an instance image into the root partition of a deploy disk: the seed's
 * `dd if=<image> of=<root_part> bs=1M oflag=direct` (deploy_helper.py), re-done for a disk that is
 * a plain FILE (a LUN exported by qemu-storage-daemon over FUSE) or a block device, so the
 * partition is a byte range `[offsetBytes, offsetBytes + maxBytes)` of the target, never a
 * `-part1` device.
 *
 * - Raw images are streamed (bounded memory: two reusable 4 MiB buffers plus the source's own
 *   highWaterMark, with backpressure), hashed on the fly (sha512 = Glance's `os_hash_value` when
 *   given, else md5 = its `checksum`), fsync'ed once at the end and then verified. One buffer is written
 *   while the source fills and hashes the other (at most one write in flight, in order), so the
 *   hashing overlaps the target's I/O instead of waiting for it. Node cannot guarantee
 *   O_DIRECT buffer alignment, so the page cache is used and flushed by the final fsync instead
 *   of `oflag=direct`.
 * - qcow2 images are converted by `qemu-img convert -n` into the byte range through the raw
 *   driver's offset/size options (`--target-image-opts`), via the CommandRunner.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { type Clock, systemClock } from '@bm/core';
import type { CommandRunner } from '@bm/exec';
import { ImageChecksumMismatch, ImageTooLarge, ImageWriteFailed, InvalidDiskParameter, InvalidImage } from './errors';

const MIB = 1024 * 1024;

/** What Glance says the image is; each given field is checked after the write. */
export interface ExpectedImage {
  size?: number;
  /** Glance `checksum` (hex, any case). */
  md5?: string;
  /** Glance `os_hash_value` when `os_hash_algo` is sha512 (hex, any case). */
  sha512?: string;
}

export interface WriteRawRequest {
  source: Readable;
  /** A regular file (the disk) or a block device; it must exist: it is never created or truncated. */
  target: string;
  /** Where the partition starts in the target, bytes. */
  offsetBytes: number;
  /** The partition's size: not one byte is written past `offsetBytes + maxBytes`. */
  maxBytes: number;
  expected?: ExpectedImage;
  /** Called with the bytes written so far, every `progressBytes` and once at the end. */
  onProgress?(bytes: number): void;
}

export interface WriteRawResult {
  bytes: number;
  /** The digest checked: sha512 when `expected` has one (Glance's os_hash), else md5 (its checksum). */
  md5?: string;
  sha512?: string;
  durationMs: number;
}

export interface WriteQcow2Request {
  /** The qcow2 file (no backing file allowed). */
  sourcePath: string;
  /** The disk file or block device. */
  target: string;
  offsetBytes: number;
  /** The partition's size; a larger virtual size is refused before anything is written. */
  sizeBytes: number;
}

export interface WriteQcow2Result {
  virtualSize: number;
  durationMs: number;
}

export interface ImageWriterOptions {
  /** Size of each of the two write buffers (default 4 MiB). */
  bufferBytes?: number;
  /**
   * Report progress every this many bytes (default: 5% of `expected.size` when known, at least
   * 4 MiB; else every 64 MiB).
   */
  progressBytes?: number;
  /** The qemu-img program (default `qemu-img`). */
  qemuImg?: string;
  /** For `qemu-img info` (default 60 s). */
  infoTimeoutMs?: number;
  /** For `qemu-img convert` (default 1 h). */
  convertTimeoutMs?: number;
  clock?: Clock;
}

function checkRange(offsetBytes: number, sizeBytes: number, sizeField: string): void {
  const problems = [];
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    problems.push({ field: 'offsetBytes', message: `must be an integer >= 0, got ${offsetBytes}` });
  }
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1) {
    problems.push({ field: sizeField, message: `must be an integer >= 1, got ${sizeBytes}` });
  }
  if (problems.length) throw new InvalidDiskParameter(problems, 'Invalid image write request');
}

/** Escapes a value for QEMU's `key=value,...` option syntax (a comma is doubled). */
function qemuOptValue(v: string): string {
  return v.replace(/,/g, ',,');
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class ImageWriter {
  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: ImageWriterOptions = {},
  ) {}

  /**
   * Streams `source` into `target` at `offsetBytes`, refusing to pass `maxBytes`, then fsyncs once
   * and checks `expected`. Throws ImageTooLarge (nothing past the partition is written),
   * ImageWriteFailed (the source or the target failed; the cause is kept) or ImageChecksumMismatch.
   */
  async writeRaw(req: WriteRawRequest): Promise<WriteRawResult> {
    const { source, target, offsetBytes, maxBytes, expected, onProgress } = req;
    try {
      checkRange(offsetBytes, maxBytes, 'maxBytes');
    } catch (e) {
      source.destroy();
      throw e;
    }
    if (expected?.size !== undefined && expected.size > maxBytes) {
      source.destroy();
      throw new ImageTooLarge(expected.size, maxBytes, 'refused before writing (the image size Glance reports)');
    }
    const clock = this.opts.clock ?? systemClock;
    const started = clock.now();
    const bufferBytes = Math.max(4096, this.opts.bufferBytes ?? 4 * MIB);
    const every =
      this.opts.progressBytes ?? (expected?.size ? Math.max(4 * MIB, Math.ceil(expected.size / 20)) : 64 * MIB);
    // One digest, the strongest Glance gave (hashing is the CPU cost of a write: 1 GiB of md5 +
    // sha512 takes as long as the copy itself): sha512 when there is an os_hash, else md5.
    const algo: 'sha512' | 'md5' = expected?.sha512 !== undefined || expected?.md5 === undefined ? 'sha512' : 'md5';
    const hash = createHash(algo);
    // Two buffers: the source fills (and hashes into) one while the other is being written.
    const buffers = [Buffer.allocUnsafe(bufferBytes), Buffer.allocUnsafe(bufferBytes)];
    let buf = buffers[0];
    let fill = 0;
    let total = 0; // bytes taken from the source (and hashed)
    let queued = 0; // bytes handed to writes (written + in flight)
    let written = 0; // bytes written to the target
    let reported = 0;
    let inFlight: Promise<void> = Promise.resolve(); // the last write started; they run one after another

    let fh: FileHandle;
    try {
      fh = await open(target, 'r+');
    } catch (e) {
      source.destroy();
      throw new ImageWriteFailed(`cannot open ${target} for writing: ${errorMessage(e)}`, { cause: e });
    }
    const writeOut = async (data: Buffer, length: number, position: number): Promise<void> => {
      let at = 0;
      while (at < length) {
        const { bytesWritten } = await fh.write(data, at, length - at, position + at);
        if (bytesWritten <= 0) throw new Error(`short write at byte ${position + at}`);
        at += bytesWritten;
        written += bytesWritten;
      }
      if (onProgress && written - reported >= every) {
        reported = written;
        onProgress(written);
      }
    };
    /** Starts writing the filled buffer, after the previous write, and returns once the other buffer is free. */
    const flush = async (): Promise<void> => {
      const [previous, data, length, position] = [inFlight, buf, fill, offsetBytes + queued];
      inFlight = previous.then(() => writeOut(data, length, position));
      inFlight.catch(() => undefined); // awaited below or at the end; never an unhandled rejection
      queued += fill;
      buf = buf === buffers[0] ? buffers[1] : buffers[0];
      fill = 0;
      await previous; // the write of the buffer now to be filled (throws if it failed)
    };

    let stage = 'reading the image';
    try {
      for await (const piece of source as AsyncIterable<Buffer | string>) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        if (total + chunk.length > maxBytes) {
          throw new ImageTooLarge(
            total + chunk.length,
            maxBytes,
            `more than ${maxBytes} bytes read; stopped before writing past the partition`,
          );
        }
        hash.update(chunk);
        total += chunk.length;
        let at = 0;
        while (at < chunk.length) {
          const n = chunk.copy(buf, fill, at);
          fill += n;
          at += n;
          if (fill === buf.length) {
            stage = `writing ${target}`;
            await flush();
            stage = 'reading the image';
          }
        }
      }
      stage = `writing ${target}`;
      await flush();
      await inFlight;
      stage = `fsync of ${target}`;
      await fh.sync();
    } catch (e) {
      source.destroy();
      await inFlight.catch(() => undefined);
      await fh.close().catch(() => undefined);
      if (e instanceof ImageTooLarge) throw e;
      throw new ImageWriteFailed(`${stage} failed after ${written} bytes written: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    await fh.close();
    if (onProgress && reported !== written) onProgress(written);

    const digest = hash.digest('hex');
    const result: WriteRawResult = { bytes: written, [algo]: digest, durationMs: clock.now() - started };
    const differences: string[] = [];
    if (expected?.size !== undefined && expected.size !== result.bytes) {
      differences.push(`size is ${result.bytes} bytes, expected ${expected.size}`);
    }
    const want = expected?.[algo];
    if (want !== undefined && want.toLowerCase() !== digest) {
      differences.push(`${algo} is ${digest}, expected ${want.toLowerCase()}`);
    }
    if (differences.length) throw new ImageChecksumMismatch(differences);
    return result;
  }

  /**
   * Converts a qcow2 image into `target`'s byte range `[offsetBytes, offsetBytes + sizeBytes)`
   * with `qemu-img convert -n -f qcow2 <src> --target-image-opts driver=raw,offset=…,size=…,
   * file.driver=file,file.filename=<target>` (qemu-img 7.2 refuses `-O` together with
   * `--target-image-opts`: the format is the options' `driver`). Refuses, before writing, a file
   * that is not qcow2, has a backing file, or whose virtual size exceeds `sizeBytes`.
   */
  async writeQcow2(req: WriteQcow2Request): Promise<WriteQcow2Result> {
    checkRange(req.offsetBytes, req.sizeBytes, 'sizeBytes');
    const clock = this.opts.clock ?? systemClock;
    const started = clock.now();
    const qemuImg = this.opts.qemuImg ?? 'qemu-img';
    const source = resolve(req.sourcePath); // absolute: never read as an option
    const info = await this.qcow2Info(source);
    if (info.virtualSize > req.sizeBytes) {
      throw new ImageTooLarge(info.virtualSize, req.sizeBytes, `the qcow2 virtual size (${source}) is larger`);
    }
    const targetOpts = [
      'driver=raw',
      `offset=${req.offsetBytes}`,
      `size=${req.sizeBytes}`,
      'file.driver=file',
      `file.filename=${qemuOptValue(resolve(req.target))}`,
    ].join(',');
    await this.runner.check(
      qemuImg,
      ['convert', '-n', '-t', 'writeback', '-f', 'qcow2', source, '--target-image-opts', targetOpts],
      { timeoutMs: this.opts.convertTimeoutMs ?? 3_600_000 },
    );
    return { virtualSize: info.virtualSize, durationMs: clock.now() - started };
  }

  /** `qemu-img info --output=json`: the format must be qcow2, with no backing file. */
  private async qcow2Info(source: string): Promise<{ virtualSize: number }> {
    const qemuImg = this.opts.qemuImg ?? 'qemu-img';
    const r = await this.runner.check(qemuImg, ['info', '--output=json', source], {
      timeoutMs: this.opts.infoTimeoutMs ?? 60_000,
    });
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new InvalidImage(`qemu-img info of ${source} is not JSON`);
    }
    if (doc.format !== 'qcow2') throw new InvalidImage(`${source} is ${String(doc.format)}, not qcow2`);
    if (doc['backing-filename'] !== undefined) {
      throw new InvalidImage(`${source} has a backing file (${String(doc['backing-filename'])}); refused`);
    }
    const virtualSize = doc['virtual-size'];
    if (typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize) || virtualSize < 0) {
      throw new InvalidImage(`qemu-img info of ${source} has no valid virtual-size`);
    }
    return { virtualSize };
  }
}
