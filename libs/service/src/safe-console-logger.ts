import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { printable } from '@bm/core';

/**
 * Nest's console logger with every message made printable: log lines quote what came from
 * outside (an RPC's method name, a node's field, a peer's error), and a newline or an ANSI
 * escape in it must neither forge a log line nor reach the terminal of whoever reads the log.
 * One event is one line (a stack a message carries is escaped too, as `\n`).
 */
export class SafeConsoleLogger extends ConsoleLogger {
  protected override stringifyMessage(message: unknown, logLevel: LogLevel): string {
    return super.stringifyMessage(typeof message === 'string' ? printable(message) : message, logLevel) as string;
  }
}
