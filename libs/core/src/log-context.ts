import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * What every log line written while handling one request carries, as oslo.log's context does:
 * the request id (`req-<uuid4>`, oslo's `request_id`) and the node or instance being worked on.
 * The logger reads it; RPC clients send the request id on (`request_id` in the oslo context).
 */
export interface LogContext {
  readonly request_id?: string;
  readonly node_id?: number;
  readonly node_uuid?: string;
  readonly instance_uuid?: string;
}

const storage = new AsyncLocalStorage<LogContext>();
const EMPTY: LogContext = Object.freeze({});

/** A fresh oslo request id: `req-` and a uuid4. */
export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/** The context of the code running now ({} outside any request). */
export function logContext(): LogContext {
  return storage.getStore() ?? EMPTY;
}

/** The request id of the code running now, if it runs for a request. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.request_id;
}

/**
 * Runs `fn` with `fields` added to the current context (a field given as undefined keeps the
 * outer value, as does null): every log line `fn` writes, and every async continuation it starts, carries them.
 * E.g. `withLogContext({ node_id: 3, instance_uuid }, () => spawn(...))`.
 */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  const merged: Record<string, unknown> = { ...logContext() };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== null) merged[key] = value;
  return storage.run(Object.freeze(merged) as LogContext, fn);
}

/**
 * Runs `fn` as a request of its own (a bmctl command, a periodic task's run, an RPC that came
 * without an id): a new request id, unless `requestId` is given, and no node or instance yet.
 */
export function inRequest<T>(fn: () => T, requestId: string = newRequestId()): T {
  return storage.run(Object.freeze({ request_id: requestId }), fn);
}

/**
 * Runs `fn` outside any request: for what outlives the request that happened to start it (a
 * connection, a keep-alive timer), whose later lines must not carry that request's ids.
 */
export function outsideRequest<T>(fn: () => T): T {
  return storage.exit(fn);
}
