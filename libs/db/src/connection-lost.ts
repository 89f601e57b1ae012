import type { EventEmitter } from 'node:events';
import * as pg from 'pg';

/**
 * Whether a database call failed because the connection went away (the server restarted or
 * terminated our backend, a network cut, no connection to be had), rather than because of what
 * it asked: such a call may be tried again once the pool has reconnected. A write that failed
 * this way may still have committed: re-read before trying it again.
 */
export function isConnectionLost(e: unknown): boolean {
  const err = e as { code?: unknown; driverError?: { code?: unknown }; message?: unknown } | null;
  const code = String(err?.driverError?.code ?? err?.code ?? '');
  // 57P01 admin_shutdown (pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now,
  // class 08: connection exceptions.
  if (/^(57P0[123]|08[0-9A-Z]{3})$/.test(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  const message = typeof err?.message === 'string' ? err.message : '';
  return /Connection terminated|terminating connection|timeout exceeded when trying to connect|not queryable|connection is closed/i.test(
    message,
  );
}

const GUARDED = Symbol('bm.errorListener');

/**
 * A pooled connection that the server ends (pg_terminate_backend, a restart, a fail-over) while
 * it is lent out between queries emits 'error', and with no listener Node ends the process for
 * it. pg-pool listens only while a client is idle, TypeORM only while a query runner holds it;
 * the driver's own loans (its version and extension checks while the data source initializes)
 * have none. Each client gets a listener of its own when the pool makes or lends it: the error
 * goes to `onError`, the client's next query fails (a lost connection, which callers retry), and
 * the pool drops it when it comes back.
 */
export function guardPool(pool: EventEmitter, onError: (e: Error) => void): void {
  const guard = (client: EventEmitter & { [GUARDED]?: true }) => {
    if (client[GUARDED]) return;
    client[GUARDED] = true;
    client.on('error', onError);
  };
  pool.on('connect', guard);
  pool.on('acquire', guard);
}

/**
 * The `pg` module as TypeORM's `driver` option takes it, with every Pool it makes guarded
 * (guardPool) from its first connection on; `onError` hears what the guard catches.
 */
export function guardedPg(onError: (e: Error) => void = () => undefined): unknown {
  class GuardedPool extends pg.Pool {
    constructor(config?: pg.PoolConfig) {
      super(config);
      guardPool(this, onError);
    }
  }
  return { ...pg, Pool: GuardedPool };
}
