/**
 * oslo.log's `_setup_logging_from_conf` for a service: from `[DEFAULT]`'s logging options,
 * which sinks its lines go to and in which format.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { DefaultOptions } from '@bm/config';
import { CommandRunner } from '@bm/exec';
import { type LineOrigin, lineFormatter } from './format';
import { FileSink, type LogSink, type LogStream, StreamSink } from './sinks';
import { SyslogSink } from './syslog-sink';

export type LoggingOptions = Pick<
  DefaultOptions,
  | 'debug'
  | 'host'
  | 'log_file'
  | 'log_dir'
  | 'use_json'
  | 'use_syslog'
  | 'syslog_log_facility'
  | 'log_date_format'
  | 'use_stderr'
>;

/**
 * The log file, as oslo.log's `_get_log_file_path`: log_file in log_dir (an absolute log_file
 * stays where it is), log_file alone (relative to the working directory), log_dir alone:
 * `<log_dir>/<service>.log` (oslo names it after the binary); neither: no file.
 */
export function logFilePath(
  service: string,
  o: Pick<LoggingOptions, 'log_file' | 'log_dir'>,
  cwd = process.cwd(),
): string | undefined {
  if (o.log_file !== '' && o.log_dir !== '') return isAbsolute(o.log_file) ? o.log_file : join(o.log_dir, o.log_file);
  if (o.log_file !== '') return resolve(cwd, o.log_file);
  if (o.log_dir !== '') return join(o.log_dir, `${service}.log`);
  return undefined;
}

export interface ServiceLogging {
  readonly sinks: readonly LogSink[];
  /** The Nest log levels `debug` allows. */
  readonly levels: ('verbose' | 'debug' | 'log' | 'warn' | 'error' | 'fatal')[];
  /** Where the file is, if any (for the start-up line). */
  readonly file?: string;
  /** Flushes and closes every sink (at the end of a graceful stop). */
  close(): Promise<void>;
}

export interface LoggingDeps {
  stdout?: LogStream;
  stderr?: LogStream;
  runner?: CommandRunner;
  /** The syslog socket `logger` writes to (tests: one of their own; default /dev/log). */
  syslogSocket?: string;
  cwd?: string;
  pid?: number;
}

/**
 * As oslo.log: a file when log_file or log_dir says so; stderr too with use_stderr; syslog too
 * with use_syslog; and, when neither a file nor use_stderr, the console (stdout, errors on
 * stderr, as Nest's logger did). One format for all: JSON with use_json, else oslo's text line
 * (coloured only on a terminal). Throws LogFileError when the file cannot be opened, and
 * CommandFailed when syslog is asked for and `logger` cannot be run.
 */
export async function openServiceLogging(
  service: string,
  o: LoggingOptions,
  deps: LoggingDeps = {},
): Promise<ServiceLogging> {
  const origin: LineOrigin = {
    service,
    host: o.host,
    pid: deps.pid ?? process.pid,
    dateFormat: o.log_date_format,
  };
  const format = lineFormatter(origin, o.use_json);
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const sinks: LogSink[] = [];
  const file = logFilePath(service, o, deps.cwd);
  if (file !== undefined) sinks.push(new FileSink(file, format, { stderr }));
  if (o.use_stderr) sinks.push(new StreamSink(format, { out: stderr, err: stderr }, 'stderr'));
  else if (file === undefined) sinks.push(new StreamSink(format, { out: stdout, err: stderr }));
  if (o.use_syslog) {
    const syslog = new SyslogSink(format, {
      runner: deps.runner ?? new CommandRunner(),
      facility: o.syslog_log_facility,
      tag: service,
      pid: origin.pid,
      socket: deps.syslogSocket,
      stderr,
    });
    try {
      await syslog.start();
    } catch (e) {
      await Promise.all(sinks.map((s) => s.close()));
      throw e;
    }
    sinks.push(syslog);
  }
  return {
    sinks,
    levels: o.debug ? ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'] : ['log', 'warn', 'error', 'fatal'],
    file,
    close: async () => {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
