import type * as amqp from 'amqplib';
import type { AmqpConnection } from './connection';

/** Default time a whole queueDepths() may take: a scrape must not hang on a slow broker. */
export const QUEUE_DEPTH_TIMEOUT_MS = 1000;

/**
 * The messages ready in each of `queues`, read by passive declares (`queue.declare` with
 * passive: nothing is created) on one short-lived channel of `conn`. A queue that does not exist
 * (yet) is left out; so is everything when the broker is away or does not answer within
 * `timeoutMs`: the caller gets what was read by then.
 */
export async function queueDepths(
  conn: Pick<AmqpConnection, 'connected' | 'channel'>,
  queues: readonly string[],
  timeoutMs = QUEUE_DEPTH_TIMEOUT_MS,
): Promise<Map<string, number>> {
  const depths = new Map<string, number>();
  if (!conn.connected || queues.length === 0) return depths;
  let finished = false;
  let ch: amqp.Channel | undefined;
  const read = async () => {
    try {
      for (const queue of queues) {
        ch ??= await openChannel(conn);
        if (finished) break;
        try {
          const { messageCount } = await ch.checkQueue(queue);
          if (!finished) depths.set(queue, messageCount);
        } catch {
          // 404: the broker closed the channel with the error; the next queue gets a new one.
          ch = undefined;
        }
      }
    } finally {
      // Also when the deadline passed first: whatever channel this opened is closed.
      await (ch as amqp.Channel | undefined)?.close().catch(() => undefined);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  try {
    await Promise.race([read().catch(() => undefined), deadline]);
  } finally {
    finished = true;
    clearTimeout(timer);
  }
  return depths;
}

async function openChannel(conn: Pick<AmqpConnection, 'channel'>): Promise<amqp.Channel> {
  const ch = await conn.channel();
  // A passive declare of a missing queue closes the channel with an error event: expected here.
  ch.on('error', () => undefined);
  return ch;
}
