import type * as amqp from 'amqplib';
import type { AmqpConnection } from './connection';
import { type RpcContext, buildNotification, decodeEnvelope, encodeEnvelope, extractContext } from './envelope';
import { contextForCall } from './request-context';
import { DEFAULT_PREFETCH } from './rpc-server';
import { notificationRoutingKey, publishProperties, sharedQueueOptions, topicExchange } from './topology';

export type Priority = 'audit' | 'debug' | 'info' | 'warn' | 'error' | 'critical' | 'sample';

/**
 * oslo's `[oslo_messaging_notifications] driver`: `messagingv2` (the 2.0 envelope, what Nova
 * sends), `messaging` (the bare 1.0 form), `log` (a log line, nothing on the broker), `noop`.
 * No driver at all sends nothing, as oslo's default.
 */
export const NOTIFICATION_DRIVERS = ['messagingv2', 'messaging', 'log', 'noop'] as const;
export type NotificationDriver = (typeof NOTIFICATION_DRIVERS)[number];

export interface NotifierOptions {
  exchange: string;
  publisherId: string;
  /** oslo's `topics`: each notification goes to `<topic>.<priority>` of each (default `notifications`). */
  topics?: readonly string[];
  /** Default: messagingv2. */
  drivers?: readonly NotificationDriver[];
}

/**
 * oslo's Notifier: with `messagingv2` (or `messaging`), notifications on the control exchange,
 * routing key `<topic>.<priority>`. Like oslo, it declares the `<topic>.<priority>` queue itself
 * before the first send, so notifications wait there until someone consumes them; what caps
 * those queues is a broker policy (docs/messaging.md), as a cap declared here would clash with
 * oslo's own declaration of the same queue.
 */
export class Notifier {
  private readonly queuesReady = new Set<string>();
  private readonly drivers: ReadonlySet<NotificationDriver>;

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: NotifierOptions,
  ) {
    this.drivers = new Set(opts.drivers ?? ['messagingv2']);
    conn.on('disconnect', () => this.queuesReady.clear());
  }

  /** False when no driver sends anything (none, or only `noop`). */
  get enabled(): boolean {
    return [...this.drivers].some((d) => d !== 'noop');
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
    if (!this.enabled) return;
    // Sent while handling a request: its request_id goes with it, as a Nova context's does.
    const n = buildNotification({
      publisherId: this.opts.publisherId,
      eventType,
      priority,
      payload,
      context: contextForCall(context),
    });
    if (this.drivers.has('log')) {
      const line = `notification ${eventType} (${priority}): ${JSON.stringify(n)}`;
      if (priority === 'error' || priority === 'critical') this.conn.logger.error(line);
      else if (priority === 'warn') this.conn.logger.warn(line);
      else this.conn.logger.log(line);
    }
    const bodies: Buffer[] = [];
    if (this.drivers.has('messagingv2')) bodies.push(encodeEnvelope(n));
    if (this.drivers.has('messaging')) bodies.push(Buffer.from(JSON.stringify(n)));
    for (const body of bodies)
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
  /** Notifications delivered and not yet handled (acked) at a time (default 128; 0 = no limit). */
  prefetch?: number;
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
      const prefetch = this.opts.prefetch ?? DEFAULT_PREFETCH;
      if (prefetch > 0) await ch.prefetch(prefetch, true);
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
