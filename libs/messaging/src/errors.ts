import { type FieldProblem, NovaBmError, formatProblem } from '@bm/domain';
import type { Failure } from './envelope';

/** The oslo.messaging module names real peers use, so Python callers see familiar errors. */
export const OSLO_DISPATCHER = 'oslo_messaging.rpc.dispatcher';
export const OSLO_EXCEPTIONS = 'oslo_messaging.exceptions';
/** Where Nova's own exception classes live. */
export const NOVA_EXCEPTION = 'nova.exception';

/** An error raised by the remote side of a call, re-raised here with its remote class name. */
export class RemoteError extends Error {
  readonly remote: Failure;
  constructor(failure: Failure) {
    super(failure.message);
    this.name = failure.class;
    this.remote = failure;
  }
  get className(): string {
    return this.remote.class;
  }
}

/** oslo's NoSuchMethod: the endpoint has no such method. */
export class NoSuchMethod extends NovaBmError {
  readonly name = 'NoSuchMethod';
  readonly kind = 'invalid';
  constructor(readonly method: string) {
    super(`Endpoint does not support RPC method ${method}`);
  }
}

/** oslo's UnsupportedVersion: no endpoint serves this version (or namespace). */
export class UnsupportedVersion extends NovaBmError {
  readonly name = 'UnsupportedVersion';
  readonly kind = 'invalid';
  constructor(
    readonly version: string,
    method?: string,
  ) {
    super(`Endpoint does not support RPC version ${version}${method ? `. Attempted method: ${method}` : ''}`);
  }
}

/** The arguments of an RPC call failed validation; every bad field is listed. */
export class InvalidRpcArguments extends NovaBmError {
  readonly name = 'InvalidRpcArguments';
  readonly kind = 'invalid';
  constructor(
    readonly method: string,
    readonly problems: FieldProblem[],
  ) {
    super(`Invalid arguments for ${method}: ${problems.map(formatProblem).join('; ')}`);
  }
}

/** oslo's MessagingTimeout: no reply before the deadline. */
export class MessagingTimeout extends Error {
  override readonly name = 'MessagingTimeout';
}

/** The broker connection went away while the call was in flight, or is down now. */
export class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost';
}

/** A message larger than the configured limit. */
export class MessageTooLarge extends NovaBmError {
  readonly name = 'MessageTooLarge';
  readonly kind = 'invalid';
  constructor(size: number, limit: number) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

const MODULE_OF: Record<string, string> = {
  NoSuchMethod: OSLO_DISPATCHER,
  UnsupportedVersion: OSLO_DISPATCHER,
};

/**
 * An exception as an oslo `failure`. Domain errors keep Nova's class names (module
 * `nova.exception`, kwargs carry their fields); oslo's own errors use oslo's module; anything
 * else is reported under its JS name, module `nova_bm`.
 */
export function toFailure(e: unknown): Failure {
  const err = e instanceof Error ? e : new Error(String(e));
  const cls = err instanceof RemoteError ? err.remote.class : err.name || 'Error';
  const module =
    err instanceof RemoteError
      ? err.remote.module
      : (MODULE_OF[cls] ?? (err instanceof NovaBmError ? NOVA_EXCEPTION : 'nova_bm'));
  const kwargs: Record<string, unknown> = {};
  // oslo's own exceptions carry no kwargs in Python: a client rebuilds them as cls(*args, **kwargs).
  if (err instanceof NovaBmError && MODULE_OF[cls] === undefined) {
    for (const [k, v] of Object.entries(err)) if (!['name', 'kind', 'message', 'stack'].includes(k)) kwargs[k] = v;
  }
  return {
    class: cls,
    module,
    message: err.message,
    tb: (err.stack ?? `${cls}: ${err.message}`).split('\n').map((l) => `${l}\n`),
    args: [err.message],
    kwargs,
  };
}
