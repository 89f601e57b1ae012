/**
 * oslo.log's use_syslog. Python's handler writes datagrams to the local syslog socket
 * (/dev/log); Node has no AF_UNIX datagram sockets, so one long-lived util-linux `logger`
 * (started through CommandRunner) is fed our lines on its stdin, each with its priority in front
 * (`--prio-prefix`: `<facility * 8 + severity>`), and sends one datagram per line to the socket.
 */
import { SYSLOG_FACILITIES } from '@bm/config';
import type { CommandRunner, RunningProgram } from '@bm/exec';
import type { LevelName, LineFormatter, LogRecord } from './format';
import type { LogSink, LogStream } from './sinks';

/** RFC 5424 severities of oslo's levels. */
export const SYSLOG_SEVERITY: Readonly<Record<LevelName, number>> = {
  CRITICAL: 2,
  ERROR: 3,
  WARNING: 4,
  INFO: 6,
  DEBUG: 7,
};

/** The PRI of a line: facility × 8 + severity. */
export function syslogPriority(facility: number, level: LevelName): number {
  return facility * 8 + SYSLOG_SEVERITY[level];
}

/** The longest line handed to `logger` (longer ones are cut there), and what may wait for it. */
const MAX_LINE_BYTES = 65_536;
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
/** How long after `logger` died it is started again (lines meanwhile are counted and dropped). */
const RESTART_MS = 5_000;

export interface SyslogSinkOptions {
  runner: CommandRunner;
  /** `[DEFAULT] syslog_log_facility`: a name of SYSLOG_FACILITIES (libs/config), e.g. LOG_LOCAL0. */
  facility: string;
  /** The tag of every line (the service name) and the pid shown with it. */
  tag: string;
  pid: number;
  /** The syslog socket (default /dev/log). */
  socket?: string;
  /** Where the sink says that `logger` failed (default: process.stderr). */
  stderr?: LogStream;
  restartMs?: number;
}

/**
 * Lines to syslog through a `logger` process. Writes never block the service: while `logger`
 * starts they are queued, past 4 MiB waiting (a syslog daemon that stopped reading) they are
 * dropped and counted; if `logger` exits (no socket, a daemon restarted) it is started again
 * after 5 s and the count of lost lines is reported on stderr.
 */
export class SyslogSink implements LogSink {
  private program?: RunningProgram;
  private starting?: Promise<void>;
  private queued: string[] = [];
  private dropped = 0;
  private closed = false;
  private restartTimer?: NodeJS.Timeout;
  private readonly facility: number;

  constructor(
    private readonly format: LineFormatter,
    private readonly o: SyslogSinkOptions,
  ) {
    if (!Object.hasOwn(SYSLOG_FACILITIES, o.facility)) throw new Error(`unknown syslog facility ${o.facility}`);
    this.facility = SYSLOG_FACILITIES[o.facility];
  }

  /** Starts `logger`; rejects when it cannot be run at all (not installed). */
  async start(): Promise<void> {
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  write(r: LogRecord): void {
    if (this.closed) return;
    let text = this.format(r, false).replace(/\n+$/, '');
    // A stack in text is several lines; syslog gets one message (its lines joined, as JSON has them).
    text = text.split('\n').join(' | ');
    const line = `<${syslogPriority(this.facility, r.level)}>${truncate(text, MAX_LINE_BYTES)}\n`;
    const stdin = this.program?.isRunning() ? this.program.stdin : undefined;
    if (stdin === undefined) {
      if (this.queued.length < 10_000) this.queued.push(line);
      else this.dropped++;
      return;
    }
    if ((stdin as NodeJS.WritableStream & { writableLength?: number }).writableLength! > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    stdin.write(line);
  }

  /** Ends `logger`'s input and waits for it to send what it has read (at most 5 s). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    const p = this.program;
    if (!p?.isRunning()) return;
    p.stdin?.end();
    const timer = setTimeout(() => void p.stop(1000), 5000);
    await p.exited;
    clearTimeout(timer);
  }

  private async spawn(): Promise<void> {
    const p = await this.o.runner.start(
      'logger',
      [
        '--socket',
        this.o.socket ?? '/dev/log',
        '--socket-errors=on',
        '--prio-prefix',
        // The facility of a line whose prefix names none (facility 0, kern: not for programs).
        '--priority',
        `${this.o.facility.slice('LOG_'.length).toLowerCase()}.notice`,
        '--tag',
        this.o.tag,
        `--id=${this.o.pid}`,
        '--size',
        String(MAX_LINE_BYTES),
      ],
      // logger's own complaints (no socket) go to our stderr, where the operator looks.
      { stdin: 'pipe', logFd: 2 },
    );
    this.program = p;
    for (const line of this.queued.splice(0)) p.stdin?.write(line);
    void p.exited.then(({ code, signal }) => this.exited(code, signal));
  }

  private exited(code: number | null, signal: string | null): void {
    if (this.closed) return;
    const stderr = this.o.stderr ?? process.stderr;
    const delay = this.o.restartMs ?? RESTART_MS;
    stderr.write(`syslog: logger exited (${code ?? signal}); starting it again in ${delay} ms\n`);
    this.restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.start().then(
        () => {
          if (this.dropped > 0) stderr.write(`syslog: ${this.dropped} line(s) lost while logger was not running\n`);
          this.dropped = 0;
        },
        (e: Error) => stderr.write(`syslog: ${e.message}\n`),
      );
    }, delay);
    this.restartTimer.unref();
  }
}

function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  return Buffer.from(text)
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}
