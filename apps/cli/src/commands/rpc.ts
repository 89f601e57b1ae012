import { type Command, InvalidArgumentError } from 'commander';
import { currentRequestId, newRequestId } from '@bm/core';
import { type CliSession, positiveNumber } from '../session';

interface RpcOptions {
  topic: string;
  server?: string;
  exchange?: string;
  version?: string;
  namespace?: string;
  timeout?: number;
  context?: Record<string, unknown>;
  fanout?: boolean;
}

function jsonObject(what: string) {
  return (value: string): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(value);
    } catch (e) {
      throw new InvalidArgumentError(`${what} is not JSON: ${(e as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new InvalidArgumentError(`${what} must be a JSON object`);
    return v as Record<string, unknown>;
  };
}

/**
 * `bmctl rpc call|cast`: calls any oslo RPC server, ours or OpenStack's, and prints the JSON
 * result. A remote error prints its class and message (exit 1); a timeout (MessagingTimeout) exits 2.
 */
export function rpcCommands(program: Command, session: CliSession): void {
  const rpc = program.command('rpc').description('call or cast any oslo.messaging RPC server');
  const common = (c: Command) =>
    c
      .requiredOption('--topic <topic>', 'RPC topic, e.g. compute')
      .option('--server <server>', 'server (host) for <topic>.<server>; default: the shared <topic> queue')
      .option('--exchange <exchange>', 'control exchange (default: [DEFAULT] control_exchange)')
      .option('--version <version>', 'RPC API version the method is called at')
      .option('--namespace <namespace>', 'endpoint namespace')
      .option('--context <json>', 'request context (default: a fresh request_id)', jsonObject('--context'))
      .argument('<method>', 'method name')
      .argument('[kwargs]', 'keyword arguments as a JSON object', jsonObject('kwargs'), {});

  common(rpc.command('call').description('call a method and print its JSON result'))
    .option('--timeout <seconds>', 'seconds to wait for the reply (default: rpc_response_timeout)', positiveNumber)
    .action(async (method: string, kwargs: Record<string, unknown>, o: RpcOptions, cmd: Command) => {
      const s = session.for(cmd);
      const client = await s.rpc(o.exchange);
      try {
        const result = await client.call({ topic: o.topic, server: o.server }, method, kwargs, {
          timeout: o.timeout ?? s.getConfig().default.rpc_response_timeout,
          version: o.version,
          namespace: o.namespace,
          context: o.context ?? defaultContext(),
        });
        s.env.io.out(JSON.stringify(result, null, 2));
      } finally {
        await client.close();
      }
    });

  common(rpc.command('cast').description('cast a method (no reply); --fanout sends it to every server of the topic'))
    .option('--fanout', 'send to every server of the topic (<topic>_fanout)')
    .action(async (method: string, kwargs: Record<string, unknown>, o: RpcOptions, cmd: Command) => {
      const s = session.for(cmd);
      const client = await s.rpc(o.exchange);
      const opts = { version: o.version, namespace: o.namespace, context: o.context ?? defaultContext() };
      if (o.fanout) await client.fanoutCast(o.topic, method, kwargs, opts);
      else await client.cast({ topic: o.topic, server: o.server }, method, kwargs, opts);
      s.env.io.err(
        `cast ${method} to ${o.fanout ? `${o.topic}_fanout` : o.server ? `${o.topic}.${o.server}` : o.topic}`,
      );
    });
}

function defaultContext(): Record<string, unknown> {
  return { request_id: currentRequestId() ?? newRequestId(), user_id: 'bmctl', is_admin: true, roles: ['admin'] };
}
