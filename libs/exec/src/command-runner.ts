/**
 * The one way this system runs an external program (ipmitool, sfdisk, dd, qemu-img, iscsiadm,
 * tgtadm…): no shell, arguments as a list, secrets only through the environment or stdin (never
 * argv, which every user of the machine can read in /proc), a timeout, and results that never
 * echo the environment. A program gets only the few variables any program needs (childEnv) plus
 * what its call passes: never the service's own (DATABASE_URL, TRANSPORT_URL carry passwords).
 * What it prints is kept up to a bound (the first and last part). Inject it; tests replace it
 * with a recording double.
 */
import { spawn } from 'node:child_process';
import { type Clock, systemClock, setClockTimeout, namedError } from '@bm/core';

export interface RunOptions {
  /** Environment variables beyond childEnv's (e.g. IPMI_PASSWORD); never logged or put in errors. */
  env?: Record<string, string>;
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
  /** Bytes of stdout, and of stderr, kept (the first half and the last half); default 1 MiB. */
  maxOutputBytes?: number;
}

/** The variables of this process a program inherits: finding programs, locale, time zone, home, temp. */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR'] as const;

const DEFAULT_MAX_OUTPUT = 1024 * 1024;

/** A program's environment: INHERITED_ENV from `parent` (when set), then the call's own variables. */
export function childEnv(parent: NodeJS.ProcessEnv, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

/**
 * A stream's output up to `max` bytes: the first max/2 and the last max/2, with a line saying how
 * much was left out between them (a runaway program cannot fill the service's memory).
 */
export class BoundedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const half = Math.floor(this.max / 2);
    const toHead = Math.min(chunk.length, Math.max(0, this.max - half - this.headBytes));
    if (toHead > 0) {
      this.head.push(chunk.subarray(0, toHead));
      this.headBytes += toHead;
    }
    if (toHead === chunk.length) return;
    this.tail.push(chunk.subarray(toHead));
    this.tailBytes += chunk.length - toHead;
    while (this.tailBytes > half) {
      const over = this.tailBytes - half;
      const first = this.tail[0];
      if (first.length <= over) {
        this.tail.shift();
        this.tailBytes -= first.length;
      } else {
        this.tail[0] = first.subarray(over);
        this.tailBytes -= over;
      }
    }
  }

  toString(): string {
    const left = this.total - this.headBytes - this.tailBytes;
    const head = Buffer.concat(this.head).toString();
    if (left === 0) return head + Buffer.concat(this.tail).toString();
    return `${head}\n[… ${left} bytes left out …]\n${Buffer.concat(this.tail).toString()}`;
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export class CommandFailed extends namedError('CommandFailed', 'failed') {
  constructor(
    readonly program: string,
    readonly args: readonly string[],
    readonly result: RunResult | undefined,
    reason: string,
  ) {
    super(`${program} ${args.join(' ')}: ${reason}`);
  }
}

/** A long-running program started by CommandRunner.start(). */
export interface RunningProgram {
  readonly pid: number | undefined;
  /** Its standard input, when started with `stdin: 'pipe'` (e.g. lines for `logger`). */
  readonly stdin?: NodeJS.WritableStream;
  /** Resolves when the program has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface CommandRunnerOptions {
  /** Times timeouts, kill grace periods and durations (default: the system clock). */
  clock?: Clock;
}

export class CommandRunner {
  private readonly clock: Clock;

  constructor(options: CommandRunnerOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Starts a program that runs until stopped (a VM, a daemon): no shell, stdin closed (or a
   * pipe, `stdin: 'pipe'`), output to `logFd` (appended) or discarded. Rejects if it cannot be
   * started at all.
   */
  start(
    program: string,
    args: readonly string[],
    o: Omit<RunOptions, 'input' | 'timeoutMs'> & { logFd?: number; stdin?: 'pipe' } = {},
  ): Promise<RunningProgram> {
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        cwd: o.cwd,
        env: childEnv(process.env, o.env),
        stdio: [o.stdin ?? 'ignore', o.logFd ?? 'ignore', o.logFd ?? 'ignore'],
      });
      // A program that exits while lines are still being written to it: EPIPE, not a crash.
      child.stdin?.on('error', () => undefined);
      let running = true;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.once('exit', (code, signal) => {
          running = false;
          done({ code, signal });
        }),
      );
      child.once('error', (e) => {
        running = false;
        reject(new CommandFailed(program, args, undefined, `cannot run: ${e.message}`));
      });
      child.once('spawn', () =>
        resolve({
          pid: child.pid,
          stdin: child.stdin ?? undefined,
          exited,
          isRunning: () => running,
          stop: async (graceMs = 5000) => {
            if (!running) return;
            const cancelKill = setClockTimeout(this.clock, graceMs, () => child.kill('SIGKILL'));
            child.kill('SIGTERM');
            await exited;
            cancelKill();
          },
        }),
      );
    });
  }

  /** Runs a program to completion; a non-zero exit is a result, not an error. */
  run(program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    const started = this.clock.now();
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        cwd: o.cwd,
        env: childEnv(process.env, o.env),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out = new BoundedOutput(o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
      const err = new BoundedOutput(o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
      let timedOut = false;
      const cancelTimeout = o.timeoutMs
        ? setClockTimeout(this.clock, o.timeoutMs, () => {
            timedOut = true;
            child.kill('SIGKILL');
          })
        : undefined;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        cancelTimeout?.();
        reject(new CommandFailed(program, args, undefined, `cannot run: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        cancelTimeout?.();
        const result = {
          code,
          signal,
          stdout: out.toString(),
          stderr: err.toString(),
          durationMs: this.clock.now() - started,
        };
        if (timedOut) reject(new CommandFailed(program, args, result, `timed out after ${o.timeoutMs} ms`));
        else resolve(result);
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input ?? '');
    });
  }

  /** Runs a program and requires exit status 0. */
  async check(program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(program, args, o);
    if (r.code !== 0) {
      const why = r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit status ${r.code ?? r.signal}`;
      throw new CommandFailed(program, args, r, why);
    }
    return r;
  }
}
