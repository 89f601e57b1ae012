import type * as amqp from 'amqplib';
import type { AmqpConnection } from './connection';
import {
  type RpcContext,
  asReply,
  buildCall,
  buildCast,
  decodeEnvelope,
  decodeFailure,
  encodeEnvelope,
} from './envelope';
import { ConnectionLost, MessagingTimeout, RemoteError } from './errors';
import { timerMs } from './timers';
import {
  type Target,
  fanoutExchange,
  publishProperties,
  replyQueueName,
  routingKey,
  topicExchange,
  transientQueueOptions,
} from './topology';

export interface CallOptions {
  /** Seconds before MessagingTimeout (oslo's rpc_response_timeout, default 60). */
  timeout?: number;
  /** Seconds: ask the server for heartbeats; no heartbeat within this time fails the call. */
  callMonitorTimeout?: number;
  version?: string;
  namespace?: string;
  context?: RpcContext;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  result: unknown;
  timer: NodeJS.Timeout;
  monitor?: NodeJS.Timeout;
  monitorMs?: number;
  what: string;
}

/**
 * An oslo RPC client: `call` (reply awaited on this client's one `reply_<uuid>` queue),
 * `cast`, and fanout `cast`. Calls carry the overall timeout as the AMQP `expiration` and a local
 * timer; calls in flight when the broker connection drops fail at once with ConnectionLost.
 */
export class RpcClient {
  readonly replyQueue = replyQueueName();
  private readonly pending = new Map<string, Pending>();
  private readonly declared = new Set<string>();
  private ready?: Promise<void>;
  private unregister?: () => void;
  private readonly onDisconnect = () =>
    this.failAll(new ConnectionLost('the message broker connection was lost while waiting for the reply'));

  constructor(
    private readonly conn: AmqpConnection,
    private readonly defaults: { exchange: string; timeout?: number },
  ) {
    conn.on('disconnect', this.onDisconnect);
  }

  /**
   * Calls and resolves with the reply. The one promise returned is the only place the outcome
   * goes: the timeout, a failed publish and the reply all settle it, whichever comes first, so a
   * timeout shorter than the publish can never be an unhandled rejection.
   */
  async call<T = unknown>(
    target: Partial<Target> & { topic: string },
    method: string,
    args: Record<string, unknown> = {},
    o: CallOptions = {},
  ): Promise<T> {
    await this.start();
    const exchange = target.exchange ?? this.defaults.exchange;
    const timeoutS = o.timeout ?? this.defaults.timeout ?? 60;
    // A timeout from a caller (a command's --timeout) may be anything: keep it to what a timer holds.
    const timeoutMs = timerMs(timeoutS * 1000, 1);
    const msg = buildCall(
      { method, args, version: o.version, namespace: o.namespace, context: o.context },
      this.replyQueue,
      o.callMonitorTimeout ?? null,
    );
    const id = msg._msg_id!;
    const rk = routingKey(target);
    const what = `${method} on ${exchange}/${rk}`;
    return new Promise<T>((resolve, reject) => {
      const p: Pending = {
        resolve: resolve as (v: unknown) => void,
        reject,
        result: null,
        what,
        timer: setTimeout(
          () =>
            this.fail(
              id,
              new MessagingTimeout(`Timed out waiting for a reply to ${what} (message ${id}) after ${timeoutS} s`),
            ),
          timeoutMs,
        ),
      };
      if (o.callMonitorTimeout) {
        p.monitorMs = timerMs(o.callMonitorTimeout * 1000, 1);
        p.monitor = setTimeout(() => this.monitorExpired(id), p.monitorMs);
      }
      this.pending.set(id, p);
      this.ensureExchange(exchange)
        .then(() => this.conn.publish(exchange, rk, encodeEnvelope(msg), publishProperties(timeoutMs), { timeoutMs }))
        .catch((e: Error) => this.fail(id, e));
    });
  }

  async cast(
    target: Partial<Target> & { topic: string },
    method: string,
    args: Record<string, unknown> = {},
    o: Omit<CallOptions, 'timeout' | 'callMonitorTimeout'> = {},
  ): Promise<void> {
    const exchange = target.exchange ?? this.defaults.exchange;
    await this.ensureExchange(exchange);
    const msg = buildCast({ method, args, version: o.version, namespace: o.namespace, context: o.context });
    await this.conn.publish(exchange, routingKey(target), encodeEnvelope(msg), publishProperties());
  }

  /** Cast to every server of a topic (exchange `<topic>_fanout`, routing key ""). */
  async fanoutCast(
    topic: string,
    method: string,
    args: Record<string, unknown> = {},
    o: Omit<CallOptions, 'timeout' | 'callMonitorTimeout'> = {},
  ): Promise<void> {
    const fx = fanoutExchange(topic);
    await this.ensureExchange(fx.name, fx);
    const msg = buildCast({ method, args, version: o.version, namespace: o.namespace, context: o.context });
    await this.conn.publish(fx.name, '', encodeEnvelope(msg), publishProperties());
  }

  async close(): Promise<void> {
    this.unregister?.();
    this.conn.off('disconnect', this.onDisconnect);
    this.failAll(new ConnectionLost('RPC client closed'));
  }

  /** Declares and consumes the reply queue, now and after every reconnect. */
  private start(): Promise<void> {
    this.ready ??= this.conn
      .register(async (model) => {
        this.declared.clear();
        const ch = await model.createChannel();
        ch.on('error', (e: Error) => this.conn.logger.warn(`RPC reply channel: ${e.message}`));
        await ch.assertQueue(this.replyQueue, transientQueueOptions);
        await ch.consume(this.replyQueue, (m) => m && this.onReply(m), { noAck: true });
      })
      .then((unregister) => {
        this.unregister = unregister;
      });
    return this.ready;
  }

  private async ensureExchange(name: string, spec = topicExchange(name)): Promise<void> {
    if (this.declared.has(name)) return;
    const ch = await this.conn.channel();
    try {
      await ch.assertExchange(spec.name, spec.type, spec.options);
      this.declared.add(name);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private onReply(m: amqp.ConsumeMessage): void {
    let reply;
    try {
      reply = asReply(decodeEnvelope(m.content));
    } catch (e) {
      this.conn.logger.warn(`RPC: malformed reply dropped: ${(e as Error).message}`);
      return;
    }
    const p = this.pending.get(reply._msg_id);
    if (!p) return; // a late reply to a call that already timed out
    if (reply.failure) return this.fail(reply._msg_id, new RemoteError(decodeFailure(reply.failure)));
    if (reply.result !== null) p.result = reply.result;
    if (!reply.ending) {
      // A heartbeat (or the first half of an old two-message reply): the server is alive.
      if (p.monitor) p.monitor.refresh();
      return;
    }
    this.settle(reply._msg_id);
    p.resolve(p.result);
  }

  private monitorExpired(msgId: string): void {
    const p = this.pending.get(msgId);
    if (p)
      this.fail(
        msgId,
        new MessagingTimeout(
          `No heartbeat from the server for ${p.what} (message ${msgId}) within ${p.monitorMs! / 1000} s`,
        ),
      );
  }

  private settle(msgId: string): Pending | undefined {
    const p = this.pending.get(msgId);
    if (!p) return undefined;
    clearTimeout(p.timer);
    if (p.monitor) clearTimeout(p.monitor);
    this.pending.delete(msgId);
    return p;
  }

  private fail(msgId: string, e: Error): void {
    this.settle(msgId)?.reject(e);
  }

  private failAll(e: Error): void {
    for (const id of [...this.pending.keys()]) this.fail(id, e);
  }
}
