import { type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { AmqpConnection, type Logger } from '../connection';
import type { Endpoint, RpcHandler } from '../dispatcher';
import type { RpcObserver } from '../observer';
import { type FailureDescriber, InvalidRpcArguments } from '../errors';
import { RpcServer } from '../rpc-server';
import { requireRole, requireSender } from '../rpc-auth';
import type { RabbitSslOptions } from '../transport-url';
import { OsloContext } from './oslo.context';

/** Where and how an app serves oslo RPC. */
export interface OsloTransportOptions {
  /** oslo transport_url (`rabbit://…`). */
  url: string;
  /** oslo's `[oslo_messaging_rabbit]` TLS options. */
  ssl?: RabbitSslOptions;
  /**
   * The role a handler marked ADMIN_ONLY needs in the request context (Nova's `admin`);
   * '' serves them to anyone (no check).
   */
  adminRole?: string;
  /**
   * Broker users (AMQP user_id) whose requests ADMIN_ONLY handlers serve; unset = any. Topic
   * permissions cannot stop a user that may reply (write to the default exchange) from putting
   * a request straight into this topic's queue: this can.
   */
  adminSenders?: RegExp;
  /** The control exchange (`nova`). */
  exchange: string;
  topic: string;
  /** The host name: also serves `<topic>.<server>`. */
  server?: string;
  /**
   * The oslo endpoints: each version (and namespace) served. A handler declared with
   * `@MessagePattern('name')` serves every endpoint without a namespace; with
   * `@MessagePattern({ method: 'name', namespace: 'ns' })`, the endpoints of that namespace.
   */
  endpoints: { version: string; namespace?: string }[];
  logger?: Logger;
  maxMessageBytes?: number;
  /** oslo's `rpc_ping_enabled`: answer `oslo_rpc_server_ping` with "pong". */
  pingEnabled?: boolean;
  /** How the service's own errors look to oslo peers (module, kwargs). */
  describeFailure?: FailureDescriber;
  /** oslo's executor_thread_pool_size: requests run at once (RpcServer's default 64). */
  executorSize?: number;
  /** oslo's rabbit_qos_prefetch_count: delivered, not yet started (RpcServer's default 128). */
  prefetch?: number;
  /** Which of the topic's queues outlive a broker restart (RpcServerOptions.durableQueues). */
  durableQueues?: 'server' | 'all';
  /** Told of every request served (RpcServerOptions.observer): the service's metrics. */
  observer?: RpcObserver;
}

/**
 * A Nest CustomTransportStrategy speaking oslo.messaging: controllers serve RPC methods with
 * `@MessagePattern('method_name')`; the payload is the call's kwargs, `@Ctx()` an OsloContext.
 * Use `@OsloController()` on such controllers so exceptions keep their names on the wire.
 */
export class OsloTransport extends Server implements CustomTransportStrategy {
  private conn?: AmqpConnection;
  private rpc?: RpcServer;

  constructor(private readonly options: OsloTransportOptions) {
    super();
  }

  async listen(callback: (...optionalParams: unknown[]) => void): Promise<void> {
    try {
      this.conn = await AmqpConnection.open({
        url: this.options.url,
        ssl: this.options.ssl,
        logger: this.options.logger ?? nestLogger(this.logger),
      });
      this.rpc = new RpcServer(this.conn, {
        target: { exchange: this.options.exchange, topic: this.options.topic, server: this.options.server },
        endpoints: this.buildEndpoints(),
        maxMessageBytes: this.options.maxMessageBytes,
        pingEnabled: this.options.pingEnabled,
        describeFailure: this.options.describeFailure,
        executorSize: this.options.executorSize,
        prefetch: this.options.prefetch,
        durableQueues: this.options.durableQueues,
        observer: this.options.observer,
      });
      await this.rpc.start();
      callback();
    } catch (e) {
      callback(e);
    }
  }

  /**
   * Graceful stop, before the app's shutdown hooks run: no new requests, the running ones finish
   * and reply within `graceMs` (RpcServer.stop). close() then closes the connection.
   */
  async drain(graceMs: number): Promise<void> {
    await this.rpc?.stop({ graceMs });
  }

  async close(): Promise<void> {
    await this.rpc?.stop();
    await this.conn?.close();
  }

  on(): never {
    throw new Error('OsloTransport does not emit events');
  }

  unwrap<T>(): T {
    return this.conn as T;
  }

  /** The RPC server's queues (for logs and tests). */
  get queues(): string[] {
    return this.rpc?.queues ?? [];
  }

  private buildEndpoints(): Endpoint[] {
    const byNamespace = new Map<string | undefined, Record<string, RpcHandler>>();
    for (const [key, handler] of this.messageHandlers) {
      const { method, namespace } = parsePattern(key);
      const methods = byNamespace.get(namespace) ?? {};
      const adminRole = handler.extras?.adminOnly === true ? (this.options.adminRole ?? 'admin') : '';
      methods[method] = async (args, call) => {
        // Before the payload is even validated: a caller without the role learns nothing more.
        if (adminRole !== '') requireRole(call.context, adminRole, method);
        if (handler.extras?.adminOnly === true && this.options.adminSenders)
          requireSender(call.sender, this.options.adminSenders, method);
        try {
          return await lastValueFrom(this.transformToObservable(await handler(args, new OsloContext(call))), {
            defaultValue: null,
          });
        } catch (e) {
          throw e instanceof InvalidRpcArguments && e.method === ''
            ? new InvalidRpcArguments(call.method, e.problems)
            : e;
        }
      };
      byNamespace.set(namespace, methods);
    }
    return this.options.endpoints.map((ep) => ({ ...ep, methods: byNamespace.get(ep.namespace) ?? {} }));
  }
}

function parsePattern(key: string): { method: string; namespace?: string } {
  if (!key.startsWith('{')) return { method: key };
  const p = JSON.parse(key) as { method?: unknown; namespace?: unknown };
  if (typeof p.method !== 'string') throw new Error(`oslo pattern ${key} has no "method"`);
  return { method: p.method, namespace: typeof p.namespace === 'string' ? p.namespace : undefined };
}

function nestLogger(l: { log(m: string): void; warn(m: string): void; error(m: string): void }): Logger {
  return { log: (m) => l.log(m), warn: (m) => l.warn(m), error: (m) => l.error(m) };
}
