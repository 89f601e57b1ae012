/**
 * How a log record is written: oslo.log's text line or its JSON line. Pure functions; the
 * sinks decide where the lines go.
 */
import { type LogContext, printable, strftime } from '@bm/core';

/** oslo.log's level names (Python logging's). */
export type LevelName = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';

/** One event to log. */
export interface LogRecord {
  readonly time: Date;
  readonly level: LevelName;
  /** The Nest logger context (`spawn`, `power-sync`, `RpcServer`…); '' when none. */
  readonly context: string;
  /** As written by the code (not yet made printable). */
  readonly message: string;
  /** An error's stack, when one was logged. */
  readonly stack?: string;
  /** The request and the node or instance the code was working for (libs/core withLogContext). */
  readonly ids: LogContext;
}

/** What every line of one process says about where it comes from. */
export interface LineOrigin {
  /** The service (`compute`, `power`, …). */
  readonly service: string;
  /** `[DEFAULT] host`. */
  readonly host: string;
  readonly pid: number;
  /** `[DEFAULT] log_date_format`, a strftime format (checked by the configuration). */
  readonly dateFormat: string;
}

/** How each level is coloured on a terminal (and only there). */
const COLOURS: Record<LevelName, string> = {
  DEBUG: '\u001b[36m',
  INFO: '\u001b[32m',
  WARNING: '\u001b[33m',
  ERROR: '\u001b[31m',
  CRITICAL: '\u001b[1;31m',
};
const RESET = '\u001b[0m';

/** `<asctime>.<msecs>`: oslo's `%(asctime)s.%(msecs)03d`, in local time. */
function asctime(r: LogRecord, o: LineOrigin): string {
  return strftime(r.time, o.dateFormat);
}

/**
 * oslo.log's text line (its logging_context_format_string): `<asctime>.<ms> <pid> <LEVEL>
 * <context> [<request_id>|-] [node: <id>] [instance: <uuid>] <message>`. What came from
 * outside is made printable, so one event is one line; a stack follows on lines of its own,
 * each with the same prefix (as oslo's logging_exception_prefix), so none can pass for another
 * event. The level is coloured only when `colours` (a terminal).
 */
export function formatText(r: LogRecord, o: LineOrigin, colours = false): string {
  const level = colours ? `${COLOURS[r.level]}${r.level}${RESET}` : r.level;
  const time = `${asctime(r, o)}.${String(r.time.getMilliseconds()).padStart(3, '0')}`;
  const node = r.ids.node_id ?? r.ids.node_uuid;
  const ids =
    `[${printable(r.ids.request_id ?? '-')}] ` +
    (node !== undefined ? `[node: ${printable(String(node))}] ` : '') +
    (r.ids.instance_uuid !== undefined ? `[instance: ${printable(r.ids.instance_uuid)}] ` : '');
  const prefix = `${time} ${o.pid} ${level} ${printable(r.context || o.service)} ${ids}`;
  const lines = [prefix + printable(r.message)];
  if (r.stack !== undefined)
    for (const line of r.stack.split('\n')) if (line.trim() !== '') lines.push(prefix + printable(line));
  return lines.join('\n') + '\n';
}

/**
 * oslo.log's JSON line (use_json): one object per event, on one line. `timestamp` is ISO 8601
 * UTC; `asctime` the same instant by log_date_format, as oslo's JSONFormatter has it;
 * `request_id` is null outside a request; node and instance ids only when known; `stack` for an
 * error that has one. Strings are as written (JSON escapes what needs escaping).
 */
export function formatJson(r: LogRecord, o: LineOrigin): string {
  const line: Record<string, unknown> = {
    timestamp: r.time.toISOString(),
    asctime: asctime(r, o),
    level: r.level,
    service: o.service,
    host: o.host,
    pid: o.pid,
    context: r.context || o.service,
    request_id: r.ids.request_id ?? null,
    ...(r.ids.node_id !== undefined ? { node_id: r.ids.node_id } : {}),
    ...(r.ids.node_uuid !== undefined ? { node_uuid: r.ids.node_uuid } : {}),
    ...(r.ids.instance_uuid !== undefined ? { instance_uuid: r.ids.instance_uuid } : {}),
    message: r.message,
    ...(r.stack !== undefined ? { stack: r.stack } : {}),
  };
  return JSON.stringify(line) + '\n';
}

/** Chooses the format once: JSON, or text (coloured for a terminal stream). */
export type LineFormatter = (r: LogRecord, colours: boolean) => string;

export function lineFormatter(o: LineOrigin, json: boolean): LineFormatter {
  return json ? (r) => formatJson(r, o) : (r, colours) => formatText(r, o, colours);
}
