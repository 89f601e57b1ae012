import { type ErrorKind, errorKind } from '@bm/core';

/**
 * How an RPC ended, for metrics: `ok`, or the kind of the error (libs/core `ErrorKind`: `invalid`,
 * `not_found`, `timeout`, …; `failed` for anything that is not one of ours). A small fixed set, so
 * it can be a metric label.
 */
export type RpcOutcome = 'ok' | ErrorKind;

/** The outcome of a call that threw `e` (or `ok` when nothing was thrown). */
export function rpcOutcome(e?: unknown): RpcOutcome {
  return e === undefined ? 'ok' : errorKind(e);
}

/**
 * The method label of a request whose method could not be dispatched: the name a peer sent is
 * not used as a label, so that nobody can grow the metric without end by sending made-up names.
 */
export const UNKNOWN_METHOD = 'unknown';

/**
 * What the RPC layer tells whoever counts (libs/service's Prometheus metrics); the messaging lib
 * itself knows nothing of metrics. Every hook is optional and must not throw.
 */
export interface RpcObserver {
  /** A request this server handled: its method (UNKNOWN_METHOD if none matched), outcome and time. */
  served?(method: string, outcome: RpcOutcome, seconds: number): void;
  /** A call this client made, settled by its reply, an error or its timeout. */
  called?(method: string, outcome: RpcOutcome, seconds: number): void;
  /**
   * A cast (or fanout cast) this client sent: `ok` once the broker took it (publisher confirm),
   * else the kind of the error (`unavailable`: not sent by its publish deadline).
   */
  cast?(method: string, outcome: RpcOutcome): void;
}
