import type * as amqp from 'amqplib';
import type { AmqpConnection } from './connection';
import { type RpcContext, buildNotification, decodeEnvelope, encodeEnvelope, extractContext } from './envelope';
import { notificationRoutingKey, publishProperties, sharedQueueOptions, topicExchange } from './topology';

export type Priority = 'audit' | 'debug' | 'info' | 'warn' | 'error' | 'critical' | 'sample';

/**
 * oslo's Notifier with the `messagingv2` driver: enveloped notifications on the control exchange,
 * routing key `<topic>.<priority>`. Like oslo, it declares the `<topic>.<priority>` queue itself
 * before the first send, so notifications wait there until someone consumes them.
 */
export class Notifier {
  private readonly queuesReady = new Set<string>();

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: { exchange: string; publisherId: string; topics?: string[] },
  ) {
    conn.on('disconnect', () => this.queuesReady.clear());
  }

  info(eventType: string, payload: unknown, context?: RpcContext): Promise<void> {
    return this.notify('info', eventType, payload, context);
  }

  warn(eventType: string, payload: unknown, context?: RpcContext): Promise<void> {
    return this.notify('warn', eventType, payload, context);
  }

  error(eventType: string, payload: unknown, context?: RpcContext): Promise<void> {
    return this.notify('error', eventType, payload, context);
  }

  async notify(priority: Priority, eventType: string, payload: unknown, context?: RpcContext): Promise<void> {
    const body = encodeEnvelope(
      buildNotification({ publisherId: this.opts.publisherId, eventType, priority, payload, context }),
    );
    for (const topic of this.opts.topics ?? ['notifications']) {
      const rk = notificationRoutingKey(topic, priority);
      await this.declare(rk);
      await this.conn.publish(this.opts.exchange, rk, body, publishProperties());
    }
  }

  private async declare(queue: string): Promise<void> {
    if (this.queuesReady.has(queue)) return;
    const ch = await this.conn.channel();
    try {
      const ex = topicExchange(this.opts.exchange);
      await ch.assertExchange(ex.name, ex.type, ex.options);
      await ch.assertQueue(queue, sharedQueueOptions);
      await ch.bindQueue(queue, ex.name, queue);
      this.queuesReady.add(queue);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
}

/** What a listener receives: oslo's (ctxt, publisher_id, event_type, payload, metadata). */
export interface ReceivedNotification {
  context: RpcContext;
  publisherId: string;
  eventType: string;
  priority: string;
  payload: unknown;
  metadata: { message_id: string; timestamp: string };
}

export interface ListenerOptions {
  exchange: string;
  topics?: string[];
  priorities?: Priority[];
  /** A pool gets its own queue (named after it) bound to the same keys, as oslo's listener pools. */
  pool?: string;
  /** The pool's queue lives as long as this listener's connection (exclusive, auto-delete): for a one-off watcher such as `bmctl boot`. */
  transient?: boolean;
  handler(n: ReceivedNotification): Promise<void> | void;
}

/**
 * A notification listener: consumes `<topic>.<priority>` (or the pool's queue), accepting the
 * messagingv2 envelope and the bare v1 form. A message is acked after the handler returns; one
 * the handler throws on, or that cannot be parsed, is logged and acked (never redelivered forever).
 */
export class NotificationListener {
  private unregister?: () => void;
  private channel?: amqp.Channel;

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: ListenerOptions,
  ) {}

  async start(): Promise<void> {
    this.unregister = await this.conn.register(async (model) => {
      const ch = await model.createChannel();
      ch.on('error', (e: Error) => this.conn.logger.warn(`notification listener channel: ${e.message}`));
      const ex = topicExchange(this.opts.exchange);
      await ch.assertExchange(ex.name, ex.type, ex.options);
      const keys = (this.opts.topics ?? ['notifications']).flatMap((t) =>
        (this.opts.priorities ?? ['audit', 'debug', 'info', 'warn', 'error', 'critical', 'sample']).map((p) =>
          notificationRoutingKey(t, p),
        ),
      );
      const queues = this.opts.pool ? [this.opts.pool] : keys;
      for (const q of queues) {
        await ch.assertQueue(
          q,
          this.opts.pool && this.opts.transient
            ? { durable: false, exclusive: true, autoDelete: true }
            : sharedQueueOptions,
        );
        for (const k of this.opts.pool ? keys : [q]) await ch.bindQueue(q, ex.name, k);
        await ch.consume(q, (m) => m && void this.onMessage(ch, m));
      }
      this.channel = ch;
    });
  }

  async stop(): Promise<void> {
    this.unregister?.();
    await this.channel?.close().catch(() => undefined);
  }

  private async onMessage(ch: amqp.Channel, m: amqp.ConsumeMessage): Promise<void> {
    try {
      const n = decodeEnvelope(m.content);
      if (typeof n.event_type !== 'string' || typeof n.publisher_id !== 'string') throw new Error('not a notification');
      await this.opts.handler({
        context: extractContext(n),
        publisherId: n.publisher_id,
        eventType: n.event_type,
        priority: String(n.priority ?? ''),
        payload: n.payload,
        metadata: { message_id: String(n.message_id ?? ''), timestamp: String(n.timestamp ?? '') },
      });
    } catch (e) {
      this.conn.logger.warn(`notification dropped (${m.fields.routingKey}): ${(e as Error).message}`);
    } finally {
      try {
        ch.ack(m);
      } catch {
        // channel gone with the connection: the broker redelivers to the next consumer
      }
    }
  }
}
