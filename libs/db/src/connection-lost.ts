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
