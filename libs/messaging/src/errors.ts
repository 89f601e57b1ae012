import { type ErrorKind, type FieldProblem, NovaBmError, formatProblem, namedError, printable } from '@bm/core';
import type { Failure } from './envelope';

/** The oslo.messaging module of the dispatcher's own errors, so Python callers see familiar errors. */
export const OSLO_DISPATCHER = 'oslo_messaging.rpc.dispatcher';

/**
 * The kind of a remote error, from its class name and the naming rules Nova's exceptions follow
 * (every NotFound subclass ends in NotFound, every Invalid subclass starts with Invalid).
 */
function remoteKind(cls: string): ErrorKind {
  if (cls.endsWith('NotFound')) return 'not_found';
  if (cls.startsWith('Invalid') || cls === 'NoSuchMethod' || cls === 'UnsupportedVersion') return 'invalid';
  if (cls === 'MessagingTimeout') return 'timeout';
  return 'failed';
}

/** An error raised by the remote side of a call, re-raised here with its remote class name. */
export class RemoteError extends NovaBmError {
  readonly name: string;
  readonly kind: ErrorKind;
  readonly remote: Failure;
  constructor(failure: Failure) {
    super(failure.message);
    this.name = failure.class;
    this.kind = remoteKind(failure.class);
    this.remote = failure;
  }
  get className(): string {
    return this.remote.class;
  }
}

/** oslo's NoSuchMethod: the endpoint has no such method. */
export class NoSuchMethod extends namedError('NoSuchMethod', 'invalid') {
  constructor(readonly method: string) {
    super(`Endpoint does not support RPC method ${method}`);
  }
}

/** oslo's UnsupportedVersion: no endpoint serves this version (or namespace). */
export class UnsupportedVersion extends namedError('UnsupportedVersion', 'invalid') {
  constructor(
    readonly version: string,
    method?: string,
  ) {
    super(`Endpoint does not support RPC version ${version}${method ? `. Attempted method: ${method}` : ''}`);
  }
}

/** The arguments of an RPC call failed validation; every bad field is listed. */
export class InvalidRpcArguments extends namedError('InvalidRpcArguments', 'invalid') {
  constructor(
    readonly method: string,
    readonly problems: FieldProblem[],
  ) {
    super(`Invalid arguments for ${method}: ${problems.map(formatProblem).join('; ')}`);
  }
}

/** oslo's MessagingTimeout: no reply before the deadline. */
export class MessagingTimeout extends namedError('MessagingTimeout', 'timeout') {}

/** The broker connection went away while the call was in flight, or is down now. */
export class ConnectionLost extends namedError('ConnectionLost', 'unavailable') {}

/** A message larger than the configured limit. */
export class MessageTooLarge extends namedError('MessageTooLarge', 'invalid') {
  constructor(size: number, limit: number) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

const MODULE_OF: Record<string, string> = {
  NoSuchMethod: OSLO_DISPATCHER,
  UnsupportedVersion: OSLO_DISPATCHER,
};

/**
 * How a service presents its own errors to oslo peers: the Python module a peer should find the
 * class in, and the keyword arguments to rebuild it with. Registered by the service (libs/service
 * registers Nova's, `novaFailure` of libs/domain), so this transport knows no domain.
 */
export type FailureDescriber = (e: Error) => { module: string; kwargs: Record<string, unknown> } | undefined;

/**
 * An exception as an oslo `failure`. A remote error passes through as it came; oslo's own errors
 * use oslo's module (and no kwargs: a Python client rebuilds them as cls(*args, **kwargs));
 * the rest as `describe` says, else under their JS name in module `nova_bm`. The traceback is one
 * line, `<class>: <message>` (the message's own line breaks escaped): where in our code it
 * happened is for our logs, not for the caller.
 */
export function toFailure(e: unknown, describe?: FailureDescriber): Failure {
  const err = e instanceof Error ? e : new Error(String(e));
  const cls = err instanceof RemoteError ? err.remote.class : err.name || 'Error';
  const own =
    err instanceof RemoteError
      ? { module: err.remote.module, kwargs: {} }
      : MODULE_OF[cls] !== undefined
        ? { module: MODULE_OF[cls], kwargs: {} }
        : (describe?.(err) ?? { module: 'nova_bm', kwargs: {} });
  return {
    class: cls,
    module: own.module,
    message: err.message,
    // Our stack (file paths, line numbers) stays in our logs; a passed-on remote error keeps its own.
    tb: err instanceof RemoteError ? err.remote.tb : [`${cls}: ${printable(err.message)}\n`],
    args: [err.message],
    kwargs: own.kwargs,
  };
}

/**
 * A publish the broker did not confirm within its deadline (the broker is slow, or has blocked
 * publishers on a memory or disk alarm). The message may still have been taken, or not.
 */
export class PublishTimeout extends namedError('PublishTimeout', 'unavailable') {}

/**
 * The broker had no queue to route a mandatory publish to (basic.return): e.g. a call sent in
 * the moment after a broker restart, before its server has bound its queue to the exchange again.
 */
export class Unroutable extends namedError('Unroutable', 'unavailable') {}
