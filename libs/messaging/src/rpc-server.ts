import type * as amqp from 'amqplib';
import { NovaBmError } from '@bm/core';
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
import {
  type Target,
  fanoutExchange,
  fanoutQueueName,
  publishProperties,
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
}

/** oslo's PingEndpoint. */
export const PING_METHOD = 'oslo_rpc_server_ping';
const pingEndpoint: Endpoint = { version: '1.0', methods: { [PING_METHOD]: () => 'pong' } };

/**
 * An oslo RPC server: declares `<topic>`, `<topic>.<server>` and a `<topic>_fanout_<uuid>`
 * queue with oslo's flags, acks each message on receipt (as oslo: at most once; a message the
 * broker delivered but this process never took in goes back to the queue when the channel
 * closes, which a no-ack consumer would lose), dispatches
 * on `method` with `args` as keyword arguments, and replies to `_reply_q` — with heartbeats
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

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: RpcServerOptions,
  ) {
    this.fanoutQueue = fanoutQueueName(opts.target.topic);
    this.maxBytes = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    this.window = opts.duplicateWindow ?? 1024;
    const pingTaken = opts.endpoints.some((ep) => Object.hasOwn(ep.methods, PING_METHOD));
    this.endpoints = opts.pingEnabled && !pingTaken ? [...opts.endpoints, pingEndpoint] : opts.endpoints;
  }

  /** The queues this server consumes. */
  get queues(): string[] {
    const { topic, server } = this.opts.target;
    return [topic, ...(server ? [routingKey({ topic, server })] : []), this.fanoutQueue];
  }

  async start(): Promise<void> {
    this.unregister = await this.conn.register((model) => this.declareAndConsume(model));
  }

  async stop(): Promise<void> {
    this.unregister?.();
    const ch = this.channel;
    this.channel = undefined;
    await ch?.close().catch(() => undefined);
  }

  private async declareAndConsume(model: amqp.ChannelModel): Promise<void> {
    const { exchange, topic, server } = this.opts.target;
    const ch = await model.createChannel();
    ch.on('error', (e: Error) => this.conn.logger.warn(`RPC server channel (${topic}): ${e.message}`));
    const ex = topicExchange(exchange);
    await ch.assertExchange(ex.name, ex.type, ex.options);
    const fx = fanoutExchange(topic);
    await ch.assertExchange(fx.name, fx.type, fx.options);
    const bindings: [string, string, string, object][] = [[topic, ex.name, topic, sharedQueueOptions]];
    if (server)
      bindings.push([routingKey({ topic, server }), ex.name, routingKey({ topic, server }), sharedQueueOptions]);
    bindings.push([this.fanoutQueue, fx.name, topic, transientQueueOptions]);
    for (const [queue, source, key, options] of bindings) {
      await ch.assertQueue(queue, options);
      await ch.bindQueue(queue, source, key);
      await ch.consume(queue, (m) => m && this.onMessage(ch, m));
    }
    this.channel = ch;
  }

  private onMessage(ch: amqp.Channel, m: amqp.ConsumeMessage): void {
    ch.ack(m);
    this.inFlight++;
    this.handle(m.content)
      .catch((e: unknown) => this.conn.logger.error(`RPC server (${this.opts.target.topic}): ${(e as Error).message}`))
      .finally(() => this.inFlight--);
  }

  /** Number of requests being worked on. */
  get busy(): number {
    return this.inFlight;
  }

  private async handle(body: Buffer): Promise<void> {
    const log = this.conn.logger;
    if (body.length > this.maxBytes) {
      const where = replyFieldsOf(body);
      log.warn(`RPC: dropped a ${body.length}-byte message (limit ${this.maxBytes})`);
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
    const isCall = typeof req._msg_id === 'string' && typeof req._reply_q === 'string';
    const heartbeat =
      isCall && req._timeout && req._timeout >= 1
        ? setInterval(
            () => void this.reply(req._reply_q!, buildHeartbeat(req._msg_id!)),
            (Math.floor(req._timeout) / 2) * 1000,
          )
        : undefined;
    let result: unknown = null;
    let failure: unknown;
    try {
      const method = resolveMethod(this.endpoints, req);
      result = await invoke(method, req.args, {
        context,
        method: req.method,
        namespace: req.namespace,
        version: req.version,
        msgId: req._msg_id,
      });
    } catch (e) {
      failure = e;
      // The caller gets the class and message only; an error that is not one of ours (a bug) is
      // logged here with its stack.
      if (e instanceof NovaBmError) log.warn(`RPC ${req.method}: ${e.name}: ${e.message}`);
      else log.error(`RPC ${req.method}: ${(e as Error)?.stack ?? String(e)}`);
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
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
