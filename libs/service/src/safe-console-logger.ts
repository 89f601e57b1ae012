import { inspect } from 'node:util';
import { ConsoleLogger, type ConsoleLoggerOptions, type LogLevel } from '@nestjs/common';
import { logContext } from '@bm/core';
import { type LevelName, type LogRecord, lineFormatter } from './logging/format';
import { type LogSink, StreamSink } from './logging/sinks';

const LEVELS: Record<LogLevel, LevelName> = {
  verbose: 'DEBUG',
  debug: 'DEBUG',
  log: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** The sinks of a process that has no logging set up: oslo text on stdout (errors on stderr). */
function consoleSinks(): LogSink[] {
  const format = lineFormatter(
    { service: process.title, host: '', pid: process.pid, dateFormat: '%Y-%m-%d %H:%M:%S' },
    false,
  );
  return [new StreamSink(format, { out: process.stdout, err: process.stderr })];
}

export interface SafeConsoleLoggerOptions extends ConsoleLoggerOptions {
  /** Where the lines go, formatted (logging/setup.ts builds them from `[DEFAULT]`); default: the console. */
  sinks?: readonly LogSink[];
}

/**
 * The logger Nest and every `new Logger(context)` of a service write through: each call becomes
 * one record (oslo's level name, the Nest context, the request and node/instance ids of the
 * code running now, an error's stack) handed to the sinks, which write it as oslo's text or
 * JSON line. Text makes what came from outside printable (an RPC's method name, a peer's
 * error): a newline or an ANSI escape in it can neither forge a log line nor reach the terminal
 * of whoever reads the log.
 */
export class SafeConsoleLogger extends ConsoleLogger {
  private readonly sinks: readonly LogSink[];

  constructor(o: SafeConsoleLoggerOptions = {}) {
    super(o);
    this.sinks = o.sinks ?? consoleSinks();
  }

  protected override printMessages(
    messages: unknown[],
    context = '',
    logLevel: LogLevel = 'log',
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    const ids = logContext();
    for (const m of messages) {
      const stack = m instanceof Error && errorStack === undefined ? m.stack : errorStack;
      const record: LogRecord = {
        time: new Date(),
        level: LEVELS[logLevel],
        context,
        message: textOf(m),
        ...(typeof stack === 'string' && stack !== '' ? { stack } : {}),
        ids,
      };
      for (const sink of this.sinks) sink.write(record);
    }
  }

  /** The stack went with its record. */
  protected override printStackTrace(): void {}
}

function textOf(m: unknown): string {
  if (typeof m === 'string') return m;
  if (m instanceof Error) return m.name && m.name !== 'Error' ? `${m.name}: ${m.message}` : m.message;
  if (typeof m === 'function') return m.name;
  return inspect(m, { depth: 5, breakLength: Infinity, compact: true, colors: false });
}
