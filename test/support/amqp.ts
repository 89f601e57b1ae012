import { randomBytes } from 'node:crypto';

/** The machine's RabbitMQ (guest/guest on loopback). */
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'rabbit://guest:guest@127.0.0.1:5672/';

/** A name no other test (or real service) uses, for exchanges, topics and queues. */
export function uniqueName(prefix = 'test'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Polls until `check` passes or the time is up; returns its last value. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/** Polls `probe` until it returns `want` (strict equality), or throws after timeoutMs. */
export async function until<T>(probe: () => Promise<T>, want: T, timeoutMs = 5000): Promise<void> {
  await eventually(
    async () => {
      const got = await probe();
      if (got !== want) throw new Error(`expected ${String(want)}, still ${String(got)} after ${timeoutMs} ms`);
    },
    timeoutMs,
    25,
  );
}
