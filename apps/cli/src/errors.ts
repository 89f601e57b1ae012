import { ConfigError, redactUrl } from '@bm/config';
import { type ErrorKind, NovaBmError } from '@bm/core';
import { ConnectionLost, ManagementApiError } from '@bm/messaging';

/** What bmctl's exit status means (README "bmctl"). */
export const Exit = {
  OK: 0,
  /** The operation failed: not found, conflict, invalid input, rejected import. */
  FAILED: 1,
  /** No answer in time (`bmctl rpc call`, `bmctl boot --timeout`). */
  TIMEOUT: 2,
  /** The configuration (nova.conf, environment) is invalid. */
  CONFIG: 3,
  /** The database, the message broker or a BMC cannot be reached (or the database has no schema yet). */
  DATABASE: 4,
  /** Bad command line (unknown command or option, missing argument), as sysexits' EX_USAGE. */
  USAGE: 64,
} as const;

/** The exit status of each kind of error (libs/core ErrorKind). */
const EXIT_OF: Record<ErrorKind, number> = {
  invalid: Exit.FAILED,
  not_found: Exit.FAILED,
  conflict: Exit.FAILED,
  failed: Exit.FAILED,
  timeout: Exit.TIMEOUT,
  config: Exit.CONFIG,
  unavailable: Exit.DATABASE,
  usage: Exit.USAGE,
};

/** A failure bmctl itself states (a bad argument, a missing file): printed as it is. */
export class CliError extends NovaBmError {
  readonly name = 'CliError';
  constructor(
    message: string,
    readonly kind: ErrorKind,
  ) {
    super(message);
  }
}

interface PgError {
  code?: string;
  message: string;
}

/** Turns any error into one clear line (or block) and an exit code. Never prints a secret. */
export function describeError(e: unknown, dbUrl?: string): { message: string; code: number } {
  if (e instanceof NovaBmError) {
    // Messages that say what happened in a sentence of their own stand alone; the rest are named.
    const plain = [CliError, ConfigError, ConnectionLost, ManagementApiError].some((c) => e instanceof c);
    return { message: plain ? e.message : `${e.name}: ${e.message}`, code: EXIT_OF[e.kind] };
  }
  const pg = e as PgError;
  const where = dbUrl ? redactUrl(dbUrl) : 'the database';
  switch (pg?.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return { message: `cannot reach PostgreSQL at ${where} (${pg.code})`, code: Exit.DATABASE };
    case '3D000':
      return {
        message: `${pg.message} (${where}); create it with \`bmctl db sync --create-database\``,
        code: Exit.DATABASE,
      };
    case '42P01':
      return { message: `${where} has no nova_bm schema yet; run \`bmctl db sync\``, code: Exit.DATABASE };
    case '28P01':
    case '28000':
      return { message: `PostgreSQL refused the login for ${where}: ${pg.message}`, code: Exit.DATABASE };
  }
  if (pg?.code === 'ENOENT' || pg?.code === 'EACCES' || pg?.code === 'EISDIR')
    return { message: pg.message, code: Exit.FAILED };
  if (e instanceof SyntaxError || e instanceof RangeError) return { message: e.message, code: Exit.FAILED };
  // Unknown failures: the message only (driver errors carry query parameters, which may hold
  // a BMC password, in other properties).
  return { message: `unexpected error: ${(e as Error)?.message ?? String(e)}`, code: Exit.FAILED };
}
