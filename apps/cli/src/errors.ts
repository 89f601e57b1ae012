import { ConfigError, redactUrl } from '@bm/config';
import { NovaBmError } from '@bm/domain';
import { ConnectionLost, ManagementApiError, MessagingTimeout, RemoteError } from '@bm/messaging';
import { BmcUnreachable, IpmiError } from '@bm/ipmi';

/** What bmctl's exit status means (README "bmctl"). */
export const Exit = {
  OK: 0,
  /** The operation failed: not found, conflict, invalid input, rejected import. */
  FAILED: 1,
  /** `bmctl rpc call`: no reply before the timeout. */
  TIMEOUT: 2,
  /** The configuration (nova.conf, environment) is invalid. */
  CONFIG: 3,
  /** The database, the message broker or a BMC cannot be reached (or the database has no schema yet). */
  DATABASE: 4,
  /** Bad command line (unknown command or option, missing argument), as sysexits' EX_USAGE. */
  USAGE: 64,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
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
  if (e instanceof CliError) return { message: e.message, code: e.exitCode };
  if (e instanceof ConfigError) return { message: e.message, code: Exit.CONFIG };
  if (e instanceof NovaBmError) return { message: `${e.name}: ${e.message}`, code: Exit.FAILED };
  if (e instanceof BmcUnreachable) return { message: `${e.name}: ${e.message}`, code: Exit.DATABASE };
  if (e instanceof ConnectionLost || e instanceof ManagementApiError)
    return { message: e.message, code: Exit.DATABASE };
  if (e instanceof RemoteError) return { message: `${e.name}: ${e.message}`, code: Exit.FAILED };
  if (e instanceof MessagingTimeout) return { message: e.message, code: Exit.TIMEOUT };
  if (e instanceof IpmiError) return { message: `${e.name}: ${e.message}`, code: Exit.FAILED };
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
