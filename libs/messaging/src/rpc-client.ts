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
import { ConnectionLost, MessagingTimeout, RemoteError, Unroutable } from './errors';
import { type RpcObserver, rpcOutcome } from './observer';
import { contextForCall } from './request-context';
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
  /** Published: from now on only a reply settles it (a lost connection loses the reply queue). */
  sent: boolean;
}

/** How soon a call the broker could not route is sent again. */
const UNROUTABLE_RETRY_MS = 250;

/**
 * An oslo RPC client: `call` (reply awaited on this client's one `reply_<uuid>` queue),
 * `cast`, and fanout `cast`. Calls carry the overall timeout as the AMQP `expiration` and a local
 * timer. While the broker is away (a restart, a fail-over) a message waits for the reconnect and
 * is then sent, up to the call's timeout (a cast: the publish deadline), as oslo's publishes retry
 * on connection errors; a call already sent when the connection drops fails at once with
 * ConnectionLost, since its reply queue went with the connection.
 */
export class RpcClient {
  readonly replyQueue = replyQueueName();
  private readonly pending = new Map<string, Pending>();
  private readonly declared = new Set<string>();
  private ready?: Promise<void>;
  private unregister?: () => void;
  private readonly onDisconnect = () => {
    const e = new ConnectionLost('the message broker connection was lost while waiting for the reply');
    for (const [id, p] of [...this.pending]) if (p.sent) this.fail(id, e);
  };

  constructor(
    private readonly conn: AmqpConnection,
    /** `observer`: told of every call's method, outcome and time (the service's metrics). */
    private readonly defaults: { exchange: string; timeout?: number; observer?: RpcObserver },
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
      { method, args, version: o.version, namespace: o.namespace, context: contextForCall(o.context) },
      this.replyQueue,
      o.callMonitorTimeout ?? null,
    );
    const id = msg._msg_id!;
    const rk = routingKey(target);
    const what = `${method} on ${exchange}/${rk}`;
    const observer = this.defaults.observer;
    const started = performance.now();
    const observed = (e?: unknown) => {
      try {
        observer?.called?.(method, rpcOutcome(e), (performance.now() - started) / 1000);
      } catch {
        // Counting must never change a call's outcome.
      }
    };
    const answer = new Promise<T>((resolve, reject) => {
      const p: Pending = {
        resolve: resolve as (v: unknown) => void,
        reject,
        result: null,
        what,
        sent: false,
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
      const deadline = Date.now() + timeoutMs;
      // Mandatory: a call nobody's queue is bound for yet (a server re-binding after a broker
      // restart) is returned by the broker and sent again, instead of vanishing.
      const props = { ...publishProperties(timeoutMs), mandatory: true };
      this.send(exchange, rk, encodeEnvelope(msg), props, deadline, () => this.pending.has(id))
        .then(() => (p.sent = true))
        .catch((e: Error) => this.fail(id, e));
    });
    if (!observer?.called) return answer;
    return answer.then(
      (v) => (observed(), v),
      (e: unknown) => {
        observed(e);
        throw e;
      },
    );
  }

  async cast(
    target: Partial<Target> & { topic: string },
    method: string,
    args: Record<string, unknown> = {},
    o: Omit<CallOptions, 'timeout' | 'callMonitorTimeout'> = {},
  ): Promise<void> {
    const exchange = target.exchange ?? this.defaults.exchange;
    const msg = buildCast({
      method,
      args,
      version: o.version,
      namespace: o.namespace,
      context: contextForCall(o.context),
    });
    const deadline = Date.now() + this.conn.publishTimeoutMs;
    await this.counted(
      method,
      this.send(exchange, routingKey(target), encodeEnvelope(msg), publishProperties(), deadline),
    );
  }

  /** Cast to every server of a topic (exchange `<topic>_fanout`, routing key ""). */
  async fanoutCast(
    topic: string,
    method: string,
    args: Record<string, unknown> = {},
    o: Omit<CallOptions, 'timeout' | 'callMonitorTimeout'> = {},
  ): Promise<void> {
    const fx = fanoutExchange(topic);
    const msg = buildCast({
      method,
      args,
      version: o.version,
      namespace: o.namespace,
      context: contextForCall(o.context),
    });
    const deadline = Date.now() + this.conn.publishTimeoutMs;
    await this.counted(
      method,
      this.send(fx.name, '', encodeEnvelope(msg), publishProperties(), deadline, () => true, fx),
    );
  }

  /** Tells the observer how a cast's publish ended; the outcome is passed on unchanged. */
  private async counted(method: string, sent: Promise<void>): Promise<void> {
    const tell = (e?: unknown) => {
      try {
        this.defaults.observer?.cast?.(method, rpcOutcome(e));
      } catch {
        // Counting must never change a cast's outcome.
      }
    };
    try {
      await sent;
    } catch (e) {
      tell(e);
      throw e;
    }
    tell();
  }

  /**
   * Declares the exchange and publishes, waiting out a lost connection until `deadline`: a
   * publish cut by a disconnect is sent again once reconnected (a server drops a call it has
   * already seen by its msg_id), and a mandatory one the broker could not route is sent again
   * every 250 ms. A publish the broker refuses on a live connection fails at once.
   * `wanted` says whether the message is still worth sending (its call may have timed out).
   */
  private async send(
    exchange: string,
    rk: string,
    body: Buffer,
    props: amqp.Options.Publish,
    deadline: number,
    wanted: () => boolean = () => true,
    spec = topicExchange(exchange),
  ): Promise<void> {
    for (;;) {
      if (!(await this.conn.waitForConnection(deadline - Date.now())))
        throw new ConnectionLost(`not connected to the message broker (waited for it until the deadline)`);
      if (!wanted()) return;
      const lost = this.conn.disconnects;
      try {
        await this.ensureExchange(exchange, spec);
        await this.conn.publish(exchange, rk, body, props, { timeoutMs: Math.max(1, deadline - Date.now()) });
        return;
      } catch (e) {
        if (e instanceof Unroutable) {
          // Nobody to take it, to the end: the call's own timer says MessagingTimeout, as oslo's.
          if (Date.now() + UNROUTABLE_RETRY_MS >= deadline) return;
          await new Promise((r) => setTimeout(r, UNROUTABLE_RETRY_MS));
          continue;
        }
        const cutByDisconnect = e instanceof ConnectionLost && this.conn.disconnects !== lost;
        if (!cutByDisconnect || Date.now() >= deadline) throw e;
        this.conn.logger.warn(
          `RPC: publish to ${exchange}/${rk} cut by a lost connection; sending it again once reconnected`,
        );
      }
    }
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
