import type { RpcContext, RpcRequest } from './envelope';
import { NoSuchMethod, UnsupportedVersion } from './errors';
import { versionIsCompatible } from './version';

/** What a method sees of its call besides the arguments. */
export interface CallInfo {
  /** The caller's context (Nova's RequestContext as a dict), plus `client_timeout`. */
  context: RpcContext;
  method: string;
  namespace?: string;
  version?: string;
  /** Set for calls (a reply is expected), absent for casts. */
  msgId?: string;
  /** The broker user that published it (AMQP `user_id`, checked by RabbitMQ); absent when unset. */
  sender?: string;
}

/** A method. Its arguments arrive as sent: validating them is the Nest layer's (OsloController's pipe). */
export type RpcHandler = (args: Record<string, unknown>, call: CallInfo) => unknown;

/** oslo's endpoint: a target version and namespace, and the methods served under them. */
export interface Endpoint {
  version: string;
  namespace?: string;
  methods: Record<string, RpcHandler>;
}

/**
 * Finds the method for a request exactly as oslo's RPCDispatcher does: the first endpoint of
 * the same namespace whose version is compatible and that has the method; NoSuchMethod if a
 * compatible endpoint lacks it, UnsupportedVersion if none is compatible.
 */
export function resolveMethod(
  endpoints: readonly Endpoint[],
  req: Pick<RpcRequest, 'method' | 'namespace' | 'version'>,
): RpcHandler {
  let foundCompatible = false;
  for (const ep of endpoints) {
    if ((ep.namespace ?? null) !== (req.namespace ?? null)) continue;
    const compatible = versionIsCompatible(ep.version, req.version);
    if (compatible && Object.hasOwn(ep.methods, req.method)) return ep.methods[req.method];
    foundCompatible ||= compatible;
  }
  if (foundCompatible) throw new NoSuchMethod(req.method);
  throw new UnsupportedVersion(req.version ?? '1.0', req.method);
}

/** Runs the method; whatever it throws (or rejects with) becomes the call's failure. */
export async function invoke(method: RpcHandler, args: Record<string, unknown>, call: CallInfo): Promise<unknown> {
  return method(args, call);
}
