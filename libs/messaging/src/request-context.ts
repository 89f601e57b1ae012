/**
 * oslo's `request_id` across the bus: a request keeps one id in every service it reaches, as a
 * Nova RequestContext does when it is passed along (`_context_request_id` on the wire). The
 * server runs each request under its caller's id (libs/core's log context: every line written
 * while handling it carries it); a client sends the id of the request it is working for.
 */
import { currentRequestId, newRequestId } from '@bm/core';
import type { RpcContext } from './envelope';

/** Longer than any id oslo makes (`req-` + uuid): a log line does not carry a caller's essay. */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The id a request arriving with `context` runs under: the caller's `request_id` when it sent a
 * usable one (a non-empty string of at most 128 characters), else a new `req-<uuid4>`.
 */
export function requestIdOf(context: RpcContext): string {
  const id = context.request_id;
  return typeof id === 'string' && id !== '' && id.length <= MAX_REQUEST_ID_LENGTH ? id : newRequestId();
}

/**
 * The context a call or cast sends: the caller's own when it names a request id; otherwise the
 * same with the id of the request the code is running for (none outside a request).
 */
export function contextForCall(context: RpcContext | undefined): RpcContext | undefined {
  if (context?.request_id !== undefined && context.request_id !== null) return context;
  const current = currentRequestId();
  return current === undefined ? context : { ...context, request_id: current };
}
