import type * as amqp from 'amqplib';
import { namedError } from '@bm/core';
import type { AmqpConnection } from './connection';
import { JOBS_EXCHANGE, JobQueue } from './jobs';

// The headers JobQueue (jobs.ts) writes on a job and on its dead letter.
const ATTEMPT = 'x-attempt';
const REASON = 'x-failure-reason';
const REQUEST_ID = 'x-request-id';

/** The dead-letter queue asked for is not on the broker (in this vhost). */
export class QueueNotFound extends namedError('QueueNotFound', 'not_found') {}

/** One dead-lettered job as it sits in `<queue>.dead`. */
export interface DeadLetter {
  /** Its place in the dead-letter queue: 1 is the oldest. */
  position: number;
  messageId?: string;
  /** The attempts made before it was dead-lettered (`x-attempt`). */
  attempts: number;
  /** Why: JobQueue's `x-failure-reason`, or the broker's own dead-lettering (`x-death`: rejected, expired). */
  reason?: string;
  /** The request that queued it (oslo's request_id): its worker's log lines carry it. */
  requestId?: string;
  /** Every AMQP header, as the broker has them. */
  headers: Record<string, unknown>;
  /** The job: its JSON, or its text when it is not JSON (a malformed job). */
  payload: unknown;
  bytes: number;
}

export interface DeadLettersOptions {
  /** The job queue, e.g. `baremetal.deploy`: its dead letters are in `<queue>.dead`. */
  queue: string;
  /** The exchange jobs are published on (default JOBS_EXCHANGE, as JobQueue). */
  exchange?: string;
}

/**
 * The dead letters of a JobQueue, for the operator (`bmctl queues dead-letters`): listed without
 * being taken, replayed to the job queue, or purged. Messages are taken with basic.get and only
 * acked once their fate is settled: a replayed job is acked after the broker confirmed it on the
 * job queue, so a failure anywhere leaves it in the dead-letter queue (at worst a job is both
 * replayed and still there, if the process dies between the two: job handlers are idempotent).
 */
export class DeadLetters {
  readonly deadQueue: string;
  private readonly exchange: string;

  constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: DeadLettersOptions,
  ) {
    this.deadQueue = `${opts.queue}.dead`;
    this.exchange = opts.exchange ?? JOBS_EXCHANGE;
  }

  /** The job queue. */
  get queue(): string {
    return this.opts.queue;
  }

  /** The dead letters waiting; QueueNotFound when there is no such queue. */
  async count(): Promise<number> {
    return this.withChannel(async (_ch, total) => total);
  }

  /**
   * Up to `limit` dead letters (default all), oldest first, and how many there are. They stay:
   * each is got and, once all are read, every one is handed back in its place (nack, requeue).
   */
  async list(o: { limit?: number } = {}): Promise<{ total: number; letters: DeadLetter[] }> {
    return this.withChannel(async (ch, total) => {
      const letters: DeadLetter[] = [];
      const want = Math.min(total, o.limit ?? total);
      for (let i = 0; i < want; i++) {
        const m = await ch.get(this.deadQueue, { noAck: false });
        if (!m) break;
        letters.push(letterOf(m, i + 1));
      }
      handBack(ch);
      return { total, letters };
    });
  }

  /**
   * Moves dead letters back to the job queue, oldest first, one at a time: each is published
   * (persistent, mandatory, confirmed) with its attempts reset to 1, then acked here. Only
   * those of `messageIds` when given; at most `limit`. The letters there were when it started
   * are looked at, not the ones a failing job adds meanwhile. Returns those replayed; on a
   * failure the ones not yet replayed stay, and the error says how many were.
   */
  async replay(o: { limit?: number; messageIds?: readonly string[] } = {}): Promise<DeadLetter[]> {
    // The job queue as its workers declare it (exchange, binding), should none have yet.
    await new JobQueue(this.conn, { queue: this.opts.queue, exchange: this.exchange }).declare();
    return this.withChannel(async (ch, total) => {
      const done: DeadLetter[] = [];
      try {
        for (let i = 0; i < total && done.length < (o.limit ?? Infinity); i++) {
          const m = await ch.get(this.deadQueue, { noAck: false });
          if (!m) break;
          const letter = letterOf(m, i + 1);
          // Left unacked: handed back with the others at the end, in its place.
          if (o.messageIds && !o.messageIds.includes(letter.messageId ?? '')) continue;
          await this.conn.publish(this.exchange, this.opts.queue, m.content, {
            persistent: true,
            mandatory: true,
            contentType: m.properties.contentType ?? 'application/json',
            ...(letter.messageId ? { messageId: letter.messageId } : {}),
            headers: {
              ...(letter.requestId ? { [REQUEST_ID]: letter.requestId } : {}),
              [ATTEMPT]: 1,
            },
          });
          ch.ack(m);
          done.push(letter);
        }
      } catch (e) {
        const err = e as Error;
        err.message = `${err.message} (${done.length} dead letter(s) replayed before it; the others stay in ${this.deadQueue})`;
        throw err;
      } finally {
        handBack(ch);
      }
      return done;
    });
  }

  /** Removes dead letters: the oldest `limit`, or all of them. Returns how many went. */
  async purge(o: { limit?: number } = {}): Promise<number> {
    return this.withChannel(async (ch, total) => {
      if (o.limit === undefined) return (await ch.purgeQueue(this.deadQueue)).messageCount;
      let n = 0;
      for (; n < Math.min(o.limit, total); n++) {
        const m = await ch.get(this.deadQueue, { noAck: false });
        if (!m) break;
        ch.ack(m);
      }
      return n;
    });
  }

  /** A channel for one operation, with the number of dead letters waiting; closed after. */
  private async withChannel<R>(work: (ch: amqp.Channel, total: number) => Promise<R>): Promise<R> {
    const ch = await this.conn.channel();
    // A channel error (the queue missing: 404) is raised by the call that caused it.
    ch.on('error', () => undefined);
    try {
      let total: number;
      try {
        total = (await ch.checkQueue(this.deadQueue)).messageCount;
      } catch (e) {
        if ((e as { code?: number }).code === 404)
          throw new QueueNotFound(`no queue ${this.deadQueue} on the broker: is ${this.opts.queue} the job queue?`);
        throw e;
      }
      return await work(ch, total);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
}

/** Every message got and not acked back to the queue, in its place (closing the channel would too). */
function handBack(ch: amqp.Channel): void {
  try {
    ch.nackAll(true);
  } catch {
    // The channel is gone: the broker has requeued them already.
  }
}

function letterOf(m: amqp.GetMessage, position: number): DeadLetter {
  const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
  const text = m.content.toString('utf8');
  let payload: unknown = text;
  try {
    payload = JSON.parse(text);
  } catch {
    // shown as text
  }
  const death = (headers['x-death'] as { reason?: string; queue?: string }[] | undefined)?.[0];
  const reason =
    typeof headers[REASON] === 'string'
      ? headers[REASON]
      : death
        ? `${death.reason ?? 'dead-lettered'} by the broker from ${death.queue ?? 'the job queue'}`
        : undefined;
  return {
    position,
    messageId: m.properties.messageId as string | undefined,
    attempts: Number(headers[ATTEMPT] ?? 1) || 1,
    reason,
    requestId: typeof headers[REQUEST_ID] === 'string' ? headers[REQUEST_ID] : undefined,
    headers,
    payload,
    bytes: m.content.length,
  };
}
