/**
 * Where log lines go: the process's streams, a file, syslog (syslog-sink.ts). A sink never
 * throws into the code that logs: a failed write is reported once on stderr.
 */
import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import type { LevelName, LineFormatter, LogRecord } from './format';

export interface LogSink {
  write(r: LogRecord): void;
  /** Flushes and releases what it holds (the file, the syslog process). */
  close(): Promise<void>;
}

/** A stream the logger writes to: process.stdout/stderr, or a test's double. */
export interface LogStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

const ERRORS: ReadonlySet<LevelName> = new Set(['ERROR', 'CRITICAL']);

/**
 * The process's streams, as Nest's console logger used them: errors to stderr and the rest to
 * stdout, or every line to stderr (`[DEFAULT] use_stderr`). Text is coloured only on a terminal.
 */
export class StreamSink implements LogSink {
  constructor(
    private readonly format: LineFormatter,
    private readonly streams: { out: LogStream; err: LogStream },
    private readonly route: 'split' | 'stderr' = 'split',
  ) {}

  write(r: LogRecord): void {
    const stream = this.route === 'stderr' || ERRORS.has(r.level) ? this.streams.err : this.streams.out;
    stream.write(this.format(r, stream.isTTY === true));
  }

  async close(): Promise<void> {}
}

/** Thrown when the log file cannot be opened at start (the service does not start without it). */
export class LogFileError extends Error {
  override readonly name = 'LogFileError';
}

/**
 * A log file, appended to with one synchronous write per line (nothing is lost when the process
 * exits right after logging), and reopened when it has been moved or removed (logrotate), as
 * Python's WatchedFileHandler that oslo.log uses: the path is checked at most every `checkMs`.
 */
export class FileSink implements LogSink {
  private fd: number;
  private identity: string;
  private checkedAt = 0;
  private failed = false;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly format: LineFormatter,
    private readonly o: { checkMs?: number; stderr?: LogStream } = {},
  ) {
    try {
      this.fd = openSync(path, 'a', 0o640);
    } catch (e) {
      throw new LogFileError(`cannot open the log file ${path}: ${(e as Error).message}`);
    }
    this.identity = identityOf(fstatSync(this.fd));
  }

  write(r: LogRecord): void {
    if (this.closed) return;
    this.reopenIfMoved();
    try {
      writeSync(this.fd, this.format(r, false));
      this.failed = false;
    } catch (e) {
      // A full disk must not stop the service; say so once per failing stretch.
      if (!this.failed) (this.o.stderr ?? process.stderr).write(`log file ${this.path}: ${(e as Error).message}\n`);
      this.failed = true;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private reopenIfMoved(): void {
    const now = Date.now();
    if (now - this.checkedAt < (this.o.checkMs ?? 1000)) return;
    this.checkedAt = now;
    let current: string | undefined;
    try {
      current = identityOf(statSync(this.path));
    } catch {
      current = undefined; // removed: a new file is made
    }
    if (current === this.identity) return;
    try {
      const fd = openSync(this.path, 'a', 0o640);
      closeSync(this.fd);
      this.fd = fd;
      this.identity = identityOf(fstatSync(fd));
    } catch (e) {
      // Keep writing to the file we have (moved, but open) rather than lose the lines.
      if (!this.failed)
        (this.o.stderr ?? process.stderr).write(`log file ${this.path}: cannot reopen: ${(e as Error).message}\n`);
      this.failed = true;
    }
  }
}

function identityOf(s: { dev: number; ino: number }): string {
  return `${s.dev}:${s.ino}`;
}
