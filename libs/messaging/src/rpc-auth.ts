/**
 * Who may ask what over the bus. Two checks, independent of each other:
 *
 * - the request context's roles (Nova's RequestContext `roles`): a method marked ADMIN_ONLY runs
 *   only for a context holding the admin role, as Nova's `context_is_admin` policy rule;
 * - the sender's broker user: the AMQP `user_id` property, which RabbitMQ checks against the
 *   login of the connection that published (a mismatch closes the channel), so it cannot be
 *   forged by anyone who cannot log in as that user. Our publishers always set it; oslo's do not.
 */
import { namedError } from '@bm/core';
import type { RpcContext } from './envelope';

/** Nova's PolicyNotAuthorized (on the wire as nova.exception.PolicyNotAuthorized). */
export class PolicyNotAuthorized extends namedError('PolicyNotAuthorized', 'invalid') {
  constructor(readonly action: string) {
    super(`Policy doesn't allow ${action} to be performed.`);
  }
}

/** `@MessagePattern(pattern, ADMIN_ONLY)`: the method needs the admin role (OsloTransport checks it). */
export const ADMIN_ONLY = { adminOnly: true } as const;

/** Whether the context holds `role` (Nova compares role names case-insensitively). */
export function hasRole(context: RpcContext, role: string): boolean {
  const roles = context.roles;
  return Array.isArray(roles) && roles.some((r) => typeof r === 'string' && r.toLowerCase() === role.toLowerCase());
}

/** Throws PolicyNotAuthorized unless the context holds `role`. */
export function requireRole(context: RpcContext, role: string, action: string): void {
  if (!hasRole(context, role)) throw new PolicyNotAuthorized(action);
}

/** Throws PolicyNotAuthorized unless the broker user that sent the request matches `allowed`. */
export function requireSender(sender: string | undefined, allowed: RegExp, action: string): void {
  if (sender === undefined || !allowed.test(sender)) throw new PolicyNotAuthorized(action);
}

/** Which broker users may speak for which host (a compute host's capability reports). */
export interface HostSenders {
  /** User `<prefix><host>` speaks for `<host>` ('' = no such rule). */
  prefix: string;
  /** More users, each with the one host it speaks for. */
  users: Readonly<Record<string, string>>;
}

/** Why `sender` may not speak for `host`, or undefined when it may. */
export function senderRefusal(sender: string | undefined, host: string, rule: HostSenders): string | undefined {
  if (!sender) return 'it carries no user_id';
  if (rule.users[sender] === host) return undefined;
  if (rule.prefix !== '' && sender === `${rule.prefix}${host}`) return undefined;
  return `broker user ${sender} does not speak for host ${host}`;
}
