/**
 * oslo.messaging's wire format on RabbitMQ (rabbit driver), as captured from the real library
 * (docs/messaging.md; captured messages in test-fixtures/). Pure functions; no AMQP here.
 */
import { randomUUID } from 'node:crypto';
import { namedError } from '@bm/core';

export const OSLO_VERSION = '2.0';

/** The request context: Nova's RequestContext.to_dict(), flattened as `_context_<key>` on the wire. */
export type RpcContext = Record<string, unknown>;

/** The decoded `oslo.message` of an RPC call or cast. */
export interface RpcRequest {
  method: string;
  args: Record<string, unknown>;
  namespace?: string;
  version?: string;
  /** call only: correlation id, echoed in the reply. */
  _msg_id?: string;
  /** call only: the queue to reply to. */
  _reply_q?: string;
  /** call only: call-monitor timeout in seconds (null unless the caller set one). */
  _timeout?: number | null;
  _unique_id: string;
  [context: `_context_${string}`]: unknown;
}

export interface RpcReply {
  result: unknown;
  /** JSON-encoded {@link Failure}, or null. */
  failure: string | null;
  ending: boolean;
  _msg_id: string;
  _unique_id: string;
}

/** A remote exception, as oslo serialises it (`failure`, itself a JSON string in the reply). */
export interface Failure {
  class: string;
  module: string;
  message: string;
  tb: string[];
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export interface Notification {
  message_id: string;
  publisher_id: string;
  event_type: string;
  priority: string;
  payload: unknown;
  timestamp: string;
  _unique_id: string;
  [context: `_context_${string}`]: unknown;
}

export class MalformedMessage extends namedError('MalformedMessage', 'invalid') {}

/**
 * uuid4 as 32 hex digits, the form of `_msg_id`, `_unique_id` and queue suffixes. randomUUID
 * draws from a cached entropy pool: one call per message instead of a getrandom per message.
 */
export function uuidHex(): string {
  return randomUUID().replace(/-/g, '');
}

/** Wraps a message as oslo does: the inner message JSON-encoded as a string (double encoding). */
export function encodeEnvelope(message: object): Buffer {
  return Buffer.from(JSON.stringify({ 'oslo.version': OSLO_VERSION, 'oslo.message': JSON.stringify(message) }));
}

/**
 * Unwraps a message body: the 2.0 envelope, or (as oslo's deserialize_msg) a bare JSON object,
 * which is then the message itself (v1). Throws MalformedMessage with the reason.
 */
export function decodeEnvelope(body: Buffer | string): Record<string, unknown> {
  let outer: unknown;
  try {
    outer = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (e) {
    throw new MalformedMessage(`body is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(outer)) throw new MalformedMessage('body is not a JSON object');
  if (!('oslo.version' in outer && 'oslo.message' in outer)) return outer;
  const version = String(outer['oslo.version']);
  if (version.split('.')[0] !== OSLO_VERSION.split('.')[0]) {
    throw new MalformedMessage(`unsupported envelope version ${version} (this peer speaks ${OSLO_VERSION})`);
  }
  if (typeof outer['oslo.message'] !== 'string') throw new MalformedMessage('oslo.message is not a string');
  let inner: unknown;
  try {
    inner = JSON.parse(outer['oslo.message']);
  } catch (e) {
    throw new MalformedMessage(`oslo.message is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(inner)) throw new MalformedMessage('oslo.message is not a JSON object');
  return inner;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// --- context ----------------------------------------------------------------------------------

export function flattenContext(ctx: RpcContext = {}): Record<`_context_${string}`, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ctx)) out[`_context_${k}`] = v;
  return out as Record<`_context_${string}`, unknown>;
}

/** Rebuilds the context dict from the `_context_*` keys of a message. */
export function extractContext(message: Record<string, unknown>): RpcContext {
  const ctx: RpcContext = {};
  for (const [k, v] of Object.entries(message)) if (k.startsWith('_context_')) ctx[k.slice(9)] = v;
  return ctx;
}

// --- builders, key order as oslo produces them --------------------------------------------------

export interface RequestFields {
  method: string;
  args?: Record<string, unknown>;
  namespace?: string;
  version?: string;
  context?: RpcContext;
}

/** What a call adds to a cast: where the reply goes, and the call-monitor timeout. */
interface ReplyFields {
  _msg_id: string;
  _reply_q: string;
  _timeout: number | null;
}

/** A call or cast in oslo's key order; a call's reply fields go between `version` and `_unique_id`. */
function buildRequest(f: RequestFields, reply?: ReplyFields): RpcRequest {
  return {
    method: f.method,
    args: f.args ?? {},
    ...(f.namespace !== undefined ? { namespace: f.namespace } : {}),
    ...(f.version !== undefined ? { version: f.version } : {}),
    ...reply,
    _unique_id: uuidHex(),
    ...flattenContext(f.context),
  };
}

export function buildCall(f: RequestFields, replyQueue: string, callMonitorTimeout: number | null = null): RpcRequest {
  return buildRequest(f, { _msg_id: uuidHex(), _reply_q: replyQueue, _timeout: callMonitorTimeout });
}

export function buildCast(f: RequestFields): RpcRequest {
  return buildRequest(f);
}

export function buildReply(msgId: string, result: unknown, failure: Failure | null = null): RpcReply {
  return {
    result: failure ? null : (result ?? null),
    failure: failure ? JSON.stringify(failure) : null,
    ending: true,
    _msg_id: msgId,
    _unique_id: uuidHex(),
  };
}

/** The call-monitor heartbeat: a reply with nothing in it and `ending: false`. */
export function buildHeartbeat(msgId: string): RpcReply {
  return { result: null, failure: null, ending: false, _msg_id: msgId, _unique_id: uuidHex() };
}

/** `str(datetime.utcnow())`: `YYYY-MM-DD HH:MM:SS.ffffff`, no zone. */
export function osloTimestamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace('Z', '000');
}

export function buildNotification(f: {
  publisherId: string;
  eventType: string;
  priority: string;
  payload: unknown;
  context?: RpcContext;
  now?: Date;
}): Notification {
  return {
    message_id: randomUUID(),
    publisher_id: f.publisherId,
    event_type: f.eventType,
    priority: f.priority.toUpperCase(),
    payload: f.payload,
    timestamp: osloTimestamp(f.now),
    _unique_id: uuidHex(),
    ...flattenContext(f.context),
  };
}

// --- validation of what arrives ---------------------------------------------------------------

/** Checks the shape of a decoded request; throws MalformedMessage naming the bad key. */
export function asRequest(m: Record<string, unknown>): RpcRequest {
  if (typeof m.method !== 'string' || m.method === '') throw new MalformedMessage('missing "method"');
  if (m.args !== undefined && !isObject(m.args)) throw new MalformedMessage('"args" is not an object');
  for (const k of ['namespace', 'version', '_msg_id', '_reply_q'] as const) {
    if (m[k] !== undefined && m[k] !== null && typeof m[k] !== 'string')
      throw new MalformedMessage(`"${k}" is not a string`);
  }
  if (m._timeout !== undefined && m._timeout !== null && typeof m._timeout !== 'number') {
    throw new MalformedMessage('"_timeout" is not a number');
  }
  if (m._msg_id !== undefined && m._msg_id !== null && typeof m._reply_q !== 'string')
    throw new MalformedMessage('a call without "_reply_q"');
  return { ...m, args: (m.args as Record<string, unknown>) ?? {} } as RpcRequest;
}

export function asReply(m: Record<string, unknown>): RpcReply {
  if (typeof m._msg_id !== 'string') throw new MalformedMessage('reply without "_msg_id"');
  if (m.failure !== undefined && m.failure !== null && typeof m.failure !== 'string')
    throw new MalformedMessage('"failure" is not a string');
  return {
    result: m.result ?? null,
    failure: (m.failure as string | null | undefined) ?? null,
    // Replies without `ending` come from very old servers that sent one message per call.
    ending: m.ending === undefined ? true : Boolean(m.ending),
    _msg_id: m._msg_id,
    _unique_id: String(m._unique_id ?? ''),
  };
}

export function decodeFailure(text: string): Failure {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return { class: 'RemoteError', module: 'oslo_messaging.exceptions', message: text, tb: [], args: [], kwargs: {} };
  }
  const o = isObject(f) ? f : {};
  return {
    class: String(o.class ?? 'RemoteError'),
    module: String(o.module ?? ''),
    message: String(o.message ?? ''),
    tb: Array.isArray(o.tb) ? o.tb.map(String) : [],
    args: Array.isArray(o.args) ? o.args : [],
    kwargs: isObject(o.kwargs) ? o.kwargs : {},
  };
}
