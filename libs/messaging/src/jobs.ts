import type * as amqp from 'amqplib';
import { currentRequestId, inRequest, namedError } from '@bm/core';
import type { AmqpConnection } from './connection';
import { requestIdOf } from './request-context';
import { timerMs } from './timers';

export const JOBS_EXCHANGE = 'baremetal.jobs';

export interface JobQueueOptions {
  /** The durable queue, e.g. `baremetal.deploy`; failures end in `<queue>.dead`. */
  queue: string;
  exchange?: string;
  /** Attempts before a failing job is dead-lettered (default 3). */
  maxAttempts?: number;
  /** Delay before attempt n+1 is n × this (default 1000 ms). */
  retryDelayMs?: number;
  /** Jobs worked on at once by one consumer (default 1). */
  prefetch?: number;
}

export interface JobInfo {
  /** 1 for the first attempt. */
  attempt: number;
  messageId?: string;
  /** The broker delivered it before (a consumer died before acking). */
  redelivered: boolean;
}

export type JobHandler<T> = (payload: T, info: JobInfo) => Promise<void>;

const ATTEMPT = 'x-attempt';
const REASON = 'x-failure-reason';
/** The id of the request that queued the job (oslo's request_id): its worker logs under it. */
const REQUEST_ID = 'x-request-id';
const DEFAULT_STOP_TIMEOUT_MS = 30_000;

/**
 * Thrown by a handler for a job that can never succeed (it is invalid, not unlucky): the job is
 * dead-lettered at once with the reason, without the retries.
 */
export class PermanentJobError extends namedError('PermanentJobError', 'invalid') {}

/**
 * Durable work (deploys): jobs are persistent messages on a durable queue, published with
 * publisher confirms, consumed with a prefetch limit and acked only after the handler resolved
 * (so the outcome is committed before the broker forgets the job; a consumer that dies first
 * leaves it to be redelivered). A failing job is retried `maxAttempts` times, then moved to
 * `<queue>.dead` with the reason in the `x-failure-reason` header; a handler that throws
 * PermanentJobError has its job dead-lettered at once. `stop()` drains: no new job starts, the
 * running ones finish and ack (up to a timeout). Handlers must be idempotent.
 */
export class JobQueue<T = unknown> {
  readonly deadQueue: string;
  private readonly exchange: string;
  private consumerUnregister?: () => void;
  private consumerChannel?: amqp.Channel;
  private consumerTag?: string;
  private stopping = false;
  /** The jobs delivered and not yet finished (handler, then ack or hand-on). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: JobQueueOptions,
  ) {
    this.deadQueue = `${opts.queue}.dead`;
    this.exchange = opts.exchange ?? JOBS_EXCHANGE;
  }

  /** Declares the exchange, the queue and its dead-letter queue (idempotent). */
  async declare(ch?: amqp.Channel): Promise<void> {
    const own = ch ?? (await this.conn.channel());
    try {
      await own.assertExchange(this.exchange, 'direct', { durable: true, autoDelete: false });
      await own.assertQueue(this.deadQueue, { durable: true });
      await own.assertQueue(this.opts.queue, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': this.deadQueue },
      });
      await own.bindQueue(this.opts.queue, this.exchange, this.opts.queue);
    } finally {
      if (!ch) await own.close().catch(() => undefined);
    }
  }

  /** Publishes a job; resolves once the broker has it on disk (publisher confirm). */
  async publish(payload: T, o: { messageId?: string } = {}): Promise<void> {
    await this.declare();
    const requestId = currentRequestId();
    await this.send(
      this.exchange,
      this.opts.queue,
      Buffer.from(JSON.stringify(payload)),
      1,
      o.messageId,
      requestId !== undefined ? { [REQUEST_ID]: requestId } : {},
    );
  }

  async consume(handler: JobHandler<T>): Promise<void> {
    this.stopping = false;
    this.consumerUnregister = await this.conn.register(async (model) => {
      if (this.stopping) return;
      const ch = await model.createChannel();
      ch.on('error', (e: Error) => this.conn.logger.warn(`job channel ${this.opts.queue}: ${e.message}`));
      await this.declare(ch);
      await ch.prefetch(this.opts.prefetch ?? 1);
      const { consumerTag } = await ch.consume(this.opts.queue, (m) => m && this.deliver(ch, m, handler));
      this.consumerChannel = ch;
      this.consumerTag = consumerTag;
    });
  }

  /**
   * Stops consuming and drains: cancels the consumer (no new deliveries; one that still arrives
   * is handed back to the queue unstarted), waits up to `timeoutMs` (default 30 s) for the jobs
   * running to finish and ack, then closes the channel. A job still running after the timeout is
   * left unacked, so the broker redelivers it.
   */
  async stop(o: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    this.consumerUnregister?.();
    this.consumerUnregister = undefined;
    const ch = this.consumerChannel;
    const tag = this.consumerTag;
    this.consumerChannel = undefined;
    this.consumerTag = undefined;
    if (ch && tag) {
      await ch.cancel(tag).catch((e: Error) => this.conn.logger.warn(`job ${this.opts.queue}: cancel: ${e.message}`));
    }
    await this.drain(o.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    await ch?.close().catch(() => undefined);
  }

  /** Resolves when the jobs running have finished, or after `timeoutMs`. */
  private async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timerMs(timeoutMs))));
    const done = Promise.allSettled([...this.inFlight]).then(() => false);
    try {
      if (await Promise.race([done, timedOut])) {
        this.conn.logger.warn(
          `job ${this.opts.queue}: ${this.inFlight.size} job(s) still running after ${timeoutMs} ms; left for redelivery`,
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private deliver(ch: amqp.Channel, m: amqp.ConsumeMessage, handler: JobHandler<T>): void {
    if (this.stopping) {
      // Delivered while the consumer was being cancelled: back to the queue, not started.
      try {
        ch.nack(m, false, true);
      } catch {
        // Channel gone: the broker requeues it anyway.
      }
      return;
    }
    // Under the id of the request that queued it (a new one for a job published without).
    const requestId = requestIdOf({ request_id: m.properties.headers?.[REQUEST_ID] });
    const run = inRequest(
      () =>
        this.work(ch, m, handler).catch((e: Error) =>
          this.conn.logger.error(`job ${this.opts.queue}: ${e?.message ?? String(e)}`),
        ),
      requestId,
    );
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async work(ch: amqp.Channel, m: amqp.ConsumeMessage, handler: JobHandler<T>): Promise<void> {
    const attempt = Number(m.properties.headers?.[ATTEMPT] ?? 1) || 1;
    const info: JobInfo = { attempt, messageId: m.properties.messageId, redelivered: m.fields.redelivered };
    let payload: T;
    try {
      payload = JSON.parse(m.content.toString('utf8')) as T;
    } catch (e) {
      return this.finish(ch, m, () => this.deadLetter(m, attempt, `malformed job: ${(e as Error).message}`));
    }
    try {
      await handler(payload, info);
      ch.ack(m);
    } catch (e) {
      const reason = `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`;
      if (e instanceof PermanentJobError) {
        this.conn.logger.error(`job ${this.opts.queue} failed permanently (${reason}); dead-lettered`);
        return this.finish(ch, m, () => this.deadLetter(m, attempt, reason));
      }
      const max = this.opts.maxAttempts ?? 3;
      if (attempt < max) {
        this.conn.logger.warn(`job ${this.opts.queue} attempt ${attempt}/${max} failed (${reason}); retrying`);
        await sleep((this.opts.retryDelayMs ?? 1000) * attempt);
        return this.finish(ch, m, () =>
          this.send(this.exchange, this.opts.queue, m.content, attempt + 1, m.properties.messageId, {
            [REQUEST_ID]: jobRequestId(m),
          }),
        );
      }
      this.conn.logger.error(`job ${this.opts.queue} failed ${attempt} times (${reason}); dead-lettered`);
      return this.finish(ch, m, () => this.deadLetter(m, attempt, reason));
    }
  }

  /** Publishes the job's next step, then acks it: never both lost, at worst seen twice. */
  private async finish(ch: amqp.Channel, m: amqp.ConsumeMessage, next: () => Promise<void>): Promise<void> {
    try {
      await next();
      ch.ack(m);
    } catch (e) {
      // Could not hand it on (broker away): leave it unacked, the broker redelivers it.
      this.conn.logger.warn(`job ${this.opts.queue}: ${(e as Error).message}; left for redelivery`);
    }
  }

  private deadLetter(m: amqp.ConsumeMessage, attempt: number, reason: string): Promise<void> {
    return this.send('', this.deadQueue, m.content, attempt, m.properties.messageId, {
      [REASON]: reason.slice(0, 1000),
      [REQUEST_ID]: jobRequestId(m),
    });
  }

  private send(
    exchange: string,
    key: string,
    body: Buffer,
    attempt: number,
    messageId?: string,
    headers: Record<string, unknown> = {},
  ): Promise<void> {
    return this.conn.publish(exchange, key, body, {
      persistent: true,
      contentType: 'application/json',
      ...(messageId ? { messageId } : {}),
      headers: { [ATTEMPT]: attempt, ...headers },
    });
  }
}

/** The request id a delivered job runs under (the one `deliver` chose, kept for its retries). */
function jobRequestId(m: amqp.ConsumeMessage): string {
  return currentRequestId() ?? requestIdOf({ request_id: m.properties.headers?.[REQUEST_ID] });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, timerMs(ms)));
}
