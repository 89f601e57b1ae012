import type * as amqp from 'amqplib';
import { NovaBmError, inRequest } from '@bm/core';
import type { AmqpConnection } from './connection';
import {
  type RpcRequest,
  asRequest,
  buildHeartbeat,
  buildReply,
  decodeEnvelope,
  encodeEnvelope,
  extractContext,
} from './envelope';
import { type Endpoint, invoke, resolveMethod } from './dispatcher';
import { type FailureDescriber, MessageTooLarge, toFailure } from './errors';
import { type RpcObserver, type RpcOutcome, UNKNOWN_METHOD, rpcOutcome } from './observer';
import { requestIdOf } from './request-context';
import { MAX_TIMER_MS } from './timers';
import {
  type Target,
  fanoutExchange,
  fanoutQueueName,
  publishProperties,
  durableQueueOptions,
  routingKey,
  sharedQueueOptions,
  topicExchange,
  transientQueueOptions,
} from './topology';

export interface RpcServerOptions {
  target: Required<Pick<Target, 'exchange' | 'topic'>> & { server?: string };
  endpoints: Endpoint[];
  /** Messages above this size are refused (default 16 MiB). */
  maxMessageBytes?: number;
  /** How many `_unique_id`s are remembered to drop redelivered duplicates (default 1024). */
  duplicateWindow?: number;
  /**
   * oslo's `rpc_ping_enabled`: an extra endpoint (version 1.0, no namespace) whose
   * `oslo_rpc_server_ping` answers "pong", unless an endpoint already has that method.
   */
  pingEnabled?: boolean;
  /** How the service's own errors look to oslo peers (module, kwargs); see toFailure. */
  describeFailure?: FailureDescriber;
  /**
   * oslo's `executor_thread_pool_size`: requests run at once (default 64). The rest wait unacked,
   * at most `prefetch` of them, and the remainder stays on the broker.
   */
  executorSize?: number;
  /**
   * oslo's `rabbit_qos_prefetch_count`: messages delivered to this server and not yet started
   * (default 128; 0 = no limit, the broker pushes everything it has).
   */
  prefetch?: number;
  /**
   * Which of the topic's queues are durable, so that they and their (persistent) messages outlive
   * a broker restart: 'server' = `<topic>.<server>`, 'all' = `<topic>` too. Default: neither, as
   * oslo's amqp_durable_queues = False; a queue other oslo servers also declare must keep their
   * flags (Nova's shared `compute`, `scheduler`), one only this service declares need not.
   */
  durableQueues?: 'server' | 'all';
  /** Told of every request handled (method, outcome, seconds): the service's metrics. */
  observer?: RpcObserver;
}

export const DEFAULT_EXECUTOR_SIZE = 64;
export const DEFAULT_PREFETCH = 128;

/** oslo's PingEndpoint. */
export const PING_METHOD = 'oslo_rpc_server_ping';
const pingEndpoint: Endpoint = { version: '1.0', methods: { [PING_METHOD]: () => 'pong' } };

/**
 * An oslo RPC server: declares `<topic>`, `<topic>.<server>` and a `<topic>_fanout_<uuid>`
 * queue with oslo's flags, runs at most `executorSize` requests at once and holds at most
 * `prefetch` more, acks each message when it starts (as oslo: at most once; a message the
 * broker delivered but this process never started goes back to the queue when the channel
 * closes, which a no-ack consumer would lose), dispatches on `method` with `args` as keyword
 * arguments, and replies to `_reply_q` — with heartbeats
 * while a method runs when the caller asked for a call-monitor timeout. Bad messages are
 * logged, answered with an error when a reply is possible, and never stop the server.
 */
export class RpcServer {
  private readonly fanoutQueue: string;
  private readonly seen = new Set<string>();
  private readonly maxBytes: number;
  private readonly window: number;
  private channel?: amqp.Channel;
  private unregister?: () => void;
  private inFlight = 0;
  private readonly endpoints: Endpoint[];
  private readonly executorSize: number;
  /** Delivered (unacked) while the executor was full: started in order as requests finish. */
  private readonly waiting: { ch: amqp.Channel; m: amqp.ConsumeMessage }[] = [];
  /** The consumers on `channel`, cancelled by stop(). */
  private consumerTags: string[] = [];
  private stopping = false;
  /** Called when the last running request finishes (stop() waits on it). */
  private onIdle?: () => void;

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: RpcServerOptions,
  ) {
    this.fanoutQueue = fanoutQueueName(opts.target.topic);
    this.maxBytes = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    this.window = opts.duplicateWindow ?? 1024;
    this.executorSize = Math.max(1, opts.executorSize ?? DEFAULT_EXECUTOR_SIZE);
    const pingTaken = opts.endpoints.some((ep) => Object.hasOwn(ep.methods, PING_METHOD));
    this.endpoints = opts.pingEnabled && !pingTaken ? [...opts.endpoints, pingEndpoint] : opts.endpoints;
  }

  /** The queues this server consumes. */
  get queues(): string[] {
    const { topic, server } = this.opts.target;
    return [topic, ...(server ? [routingKey({ topic, server })] : []), this.fanoutQueue];
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.unregister = await this.conn.register((model) => this.declareAndConsume(model));
  }

  /**
   * Stops taking requests: cancels the consumers (what is still queued stays there for another
   * server), hands back unstarted anything the broker delivered meanwhile, waits up to `graceMs`
   * (Infinity: as long as it takes) for the running requests to finish and reply, then closes
   * the channel. Without `graceMs` it does not wait. The connection must stay open until then.
   */
  async stop(o: { graceMs?: number } = {}): Promise<void> {
    this.stopping = true;
    this.unregister?.();
    this.unregister = undefined;
    const ch = this.channel;
    this.channel = undefined;
    for (const tag of ch ? this.consumerTags.splice(0) : []) await ch!.cancel(tag).catch(() => undefined);
    // Delivered but not started (the executor was full): back to the queue now, for another server.
    for (const w of this.waiting.splice(0)) this.onMessage(w.ch, w.m);
    if (o.graceMs && !(await this.drained(o.graceMs))) {
      this.conn.logger.warn(
        `RPC server (${this.opts.target.topic}): ${this.inFlight} request(s) still running after ${o.graceMs} ms; stopping anyway`,
      );
    }
    await ch?.close().catch(() => undefined);
  }

  /** Resolves true once no request is running, false after `ms`. */
  private drained(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => resolve(false), ms) : undefined;
      this.onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async declareAndConsume(model: amqp.ChannelModel): Promise<void> {
    const { exchange, topic, server } = this.opts.target;
    const ch = await model.createChannel();
    ch.on('error', (e: Error) => this.conn.logger.warn(`RPC server channel (${topic}): ${e.message}`));
    const ex = topicExchange(exchange);
    await ch.assertExchange(ex.name, ex.type, ex.options);
    const fx = fanoutExchange(topic);
    await ch.assertExchange(fx.name, fx.type, fx.options);
    const durable = this.opts.durableQueues;
    const bindings: [string, string, string, object][] = [
      [topic, ex.name, topic, durable === 'all' ? await this.durable(model, topic) : sharedQueueOptions],
    ];
    if (server) {
      const key = routingKey({ topic, server });
      bindings.push([key, ex.name, key, durable ? await this.durable(model, key) : sharedQueueOptions]);
    }
    bindings.push([this.fanoutQueue, fx.name, topic, transientQueueOptions]);
    // One limit for the channel's three consumers (global), so it bounds what this server holds.
    const prefetch = this.opts.prefetch ?? DEFAULT_PREFETCH;
    if (prefetch > 0) await ch.prefetch(prefetch, true);
    const tags: string[] = [];
    for (const [queue, source, key, options] of bindings) {
      await ch.assertQueue(queue, options);
      await ch.bindQueue(queue, source, key);
      tags.push((await ch.consume(queue, (m) => m && this.onMessage(ch, m))).consumerTag);
    }
    this.channel = ch;
    this.consumerTags = tags;
  }

  /**
   * Declares `queue` durable; returns the flags to consume it with. One an older version left
   * non-durable (RabbitMQ refuses the redeclare: 406) is replaced if it is empty; if not, it is
   * kept as it is (with a warning) until it has been drained, rather than its messages dropped.
   */
  private async durable(model: amqp.ChannelModel, queue: string): Promise<amqp.Options.AssertQueue> {
    let ch = await model.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.assertQueue(queue, durableQueueOptions);
      return durableQueueOptions;
    } catch (e) {
      if ((e as { code?: number }).code !== 406) throw e;
      ch = await model.createChannel(); // the refusal closed the first one
      ch.on('error', () => undefined);
      const { messageCount } = await ch.checkQueue(queue);
      if (messageCount === 0) {
        await ch.deleteQueue(queue, { ifEmpty: true });
        await ch.assertQueue(queue, durableQueueOptions);
        this.conn.logger.log(`RPC: queue ${queue} redeclared durable`);
        return durableQueueOptions;
      }
      this.conn.logger.warn(
        `RPC: queue ${queue} is not durable and holds ${messageCount} message(s): kept as it is until it is empty and the service restarts`,
      );
      return sharedQueueOptions;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private onMessage(ch: amqp.Channel, m: amqp.ConsumeMessage): void {
    if (this.stopping) {
      // Delivered while the consumers were being cancelled: back to the queue, not started.
      try {
        ch.nack(m, false, true);
      } catch {
        // Channel gone: the broker requeues it anyway.
      }
      return;
    }
    if (this.inFlight >= this.executorSize) {
      this.waiting.push({ ch, m });
      return;
    }
    this.run(ch, m);
  }

  /** Acks (oslo: at most once) and handles; when it is done, the next waiting message starts. */
  private run(ch: amqp.Channel, m: amqp.ConsumeMessage): void {
    try {
      ch.ack(m);
    } catch {
      return; // its channel closed while it waited: the broker has requeued it
    }
    this.inFlight++;
    this.handle(m.content, typeof m.properties.userId === 'string' ? m.properties.userId : undefined)
      .catch((e: unknown) => this.conn.logger.error(`RPC server (${this.opts.target.topic}): ${(e as Error).message}`))
      .finally(() => {
        this.inFlight--;
        const next = this.waiting.shift();
        if (next) this.onMessage(next.ch, next.m);
        if (this.inFlight === 0) this.onIdle?.();
      });
  }

  /** Number of requests being worked on. */
  get busy(): number {
    return this.inFlight;
  }

  private async handle(body: Buffer, sender: string | undefined): Promise<void> {
    const log = this.conn.logger;
    const started = performance.now();
    const observe = (method: string, outcome: RpcOutcome) => {
      try {
        this.opts.observer?.served?.(method, outcome, (performance.now() - started) / 1000);
      } catch {
        // Counting must never cost a request its reply.
      }
    };
    if (body.length > this.maxBytes) {
      const where = replyFieldsOf(body);
      log.warn(`RPC: dropped a ${body.length}-byte message (limit ${this.maxBytes})`);
      observe(UNKNOWN_METHOD, 'invalid');
      if (where)
        await this.reply(
          where.replyQ,
          buildReply(
            where.msgId,
            null,
            toFailure(new MessageTooLarge(body.length, this.maxBytes), this.opts.describeFailure),
          ),
        );
      return;
    }
    let req: RpcRequest;
    try {
      req = asRequest(decodeEnvelope(body));
    } catch (e) {
      log.warn(`RPC: malformed message dropped: ${(e as Error).message}`);
      observe(UNKNOWN_METHOD, 'invalid');
      const where = replyFieldsOf(body);
      if (where) await this.reply(where.replyQ, buildReply(where.msgId, null, toFailure(e, this.opts.describeFailure)));
      return;
    }
    if (this.isDuplicate(req._unique_id)) {
      log.warn(`RPC: duplicate message ${req._unique_id} (${req.method}) dropped`);
      return;
    }
    const context = {
      ...extractContext(req as unknown as Record<string, unknown>),
      client_timeout: req._timeout ?? null,
    };
    // The caller's request id (oslo's request_id) on every line written while handling it.
    const requestId = requestIdOf(context);
    const inThisRequest = <R>(fn: () => R): R => inRequest(fn, requestId);
    const receivedAt = Date.now();
    const isCall = typeof req._msg_id === 'string' && typeof req._reply_q === 'string';
    // Every _timeout/2 s, as oslo; a _timeout beyond what a timer holds (1e10) would overflow
    // into a 1 ms interval, so the interval is clamped.
    const heartbeat =
      isCall && req._timeout && req._timeout >= 1
        ? setInterval(
            () => void this.reply(req._reply_q!, buildHeartbeat(req._msg_id!)),
            Math.min((Math.floor(req._timeout) / 2) * 1000, MAX_TIMER_MS),
          )
        : undefined;
    let result: unknown = null;
    let failure: unknown;
    // The method's name as a label only once it is one we serve (UNKNOWN_METHOD otherwise).
    let served = UNKNOWN_METHOD;
    try {
      const method = resolveMethod(this.endpoints, req);
      served = req.method;
      result = await inThisRequest(() =>
        invoke(method, req.args, {
          context,
          method: req.method,
          namespace: req.namespace,
          version: req.version,
          msgId: req._msg_id,
          sender,
        }),
      );
    } catch (e) {
      failure = e;
      // The caller gets the class and message only; an error that is not one of ours (a bug) is
      // logged here with its stack.
      inThisRequest(() => {
        if (e instanceof NovaBmError) log.warn(`RPC ${req.method}: ${e.name}: ${e.message}`);
        else log.error(`RPC ${req.method}: ${(e as Error)?.stack ?? String(e)}`);
      });
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
    inThisRequest(() =>
      log.debug?.(
        `RPC ${req.method} (${isCall ? 'call' : 'cast'}${sender ? ` from ${sender}` : ''}): ` +
          `${failure === undefined ? 'done' : 'failed'} in ${Date.now() - receivedAt} ms`,
      ),
    );
    observe(served, rpcOutcome(failure));
    if (isCall) {
      await this.reply(
        req._reply_q!,
        buildReply(
          req._msg_id!,
          result === undefined ? null : result,
          failure === undefined ? null : toFailure(failure, this.opts.describeFailure),
        ),
      );
    }
  }

  private async reply(queue: string, reply: object): Promise<void> {
    try {
      await this.conn.publish('', queue, encodeEnvelope(reply), { ...publishProperties(), mandatory: true });
    } catch (e) {
      this.conn.logger.error(`RPC: reply to ${queue} lost: ${(e as Error).message}`);
    }
  }

  private isDuplicate(id: string | undefined): boolean {
    if (!id) return false;
    if (this.seen.has(id)) return true;
    this.seen.add(id);
    if (this.seen.size > this.window) this.seen.delete(this.seen.values().next().value!);
    return false;
  }
}

/**
 * Finds `_msg_id` and `_reply_q` in a message we will not (or cannot) parse, so the caller still
 * gets an error instead of a timeout. They follow `args`, so they sit near the end of the body.
 */
export function replyFieldsOf(body: Buffer): { msgId: string; replyQ: string } | undefined {
  const tail = body.subarray(Math.max(0, body.length - 4096)).toString('utf8');
  const msgId = /_msg_id\\?"\s*:\s*\\?"([0-9a-f]{32})\\?"/.exec(tail)?.[1];
  const replyQ = /_reply_q\\?"\s*:\s*\\?"(reply_[0-9a-f]{32})\\?"/.exec(tail)?.[1];
  return msgId && replyQ ? { msgId, replyQ } : undefined;
}
