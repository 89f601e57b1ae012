import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection, DeadLetters, JobQueue, PermanentJobError, QueueNotFound } from '.';

// The operator's view of dead-lettered jobs (bmctl queues dead-letters), against real RabbitMQ:
// jobs really dead-lettered by a JobQueue, listed without being taken, replayed, purged.
describe('DeadLetters', () => {
  let conn: AmqpConnection;

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  });
  afterAll(async () => {
    await conn?.close();
  });

  /** A job queue whose worker fails jobs 1..n permanently and records what it ran (when `ok`). */
  async function queueWithDeadLetters(n: number) {
    const queue = uniqueName('jobs');
    let healthy = false;
    const ran: { n: number; attempt: number }[] = [];
    const jobs = new JobQueue<{ n: number }>(conn, { queue, maxAttempts: 2, retryDelayMs: 1 });
    await jobs.consume(async (p, info) => {
      if (!healthy) {
        if (p.n === 1) throw new Error('disk on fire'); // retried, then dead-lettered
        throw new PermanentJobError(`job ${p.n} is wrong`);
      }
      ran.push({ n: p.n, attempt: info.attempt });
    });
    for (let i = 1; i <= n; i++) await jobs.publish({ n: i }, { messageId: `job-${i}` });
    const dead = new DeadLetters(conn, { queue });
    await eventually(async () => expect(await dead.count()).toBe(n), 10_000);
    return {
      queue,
      jobs,
      dead,
      ran,
      heal: () => (healthy = true),
      cleanup: async () => {
        await jobs.stop();
        const ch = await conn.channel();
        await ch.deleteQueue(queue);
        await ch.deleteQueue(`${queue}.dead`);
        await ch.close();
      },
    };
  }

  it('lists dead letters with reason, attempts and payload, oldest first, and leaves them in place', async () => {
    const q = await queueWithDeadLetters(3);
    const first = await q.dead.list();
    expect(first.total).toBe(3);
    const byId = Object.fromEntries(first.letters.map((l) => [l.messageId, l]));
    expect(byId['job-1']).toMatchObject({ attempts: 2, reason: 'Error: disk on fire', payload: { n: 1 } });
    expect(byId['job-2']).toMatchObject({
      attempts: 1,
      reason: 'PermanentJobError: job 2 is wrong',
      payload: { n: 2 },
      bytes: 7,
    });
    expect(first.letters.map((l) => l.position)).toEqual([1, 2, 3]);
    // Nothing was taken, and the order is kept.
    const again = await q.dead.list();
    expect(again.letters.map((l) => l.messageId)).toEqual(first.letters.map((l) => l.messageId));
    expect((await q.dead.list({ limit: 1 })).letters.map((l) => l.messageId)).toEqual([first.letters[0].messageId]);
    expect(await q.dead.count()).toBe(3);
    await q.cleanup();
  }, 20_000);

  it('replays the chosen ones to the job queue with fresh attempts; the others stay, in order', async () => {
    const q = await queueWithDeadLetters(3);
    const order = (await q.dead.list()).letters.map((l) => l.messageId);
    q.heal();
    const replayed = await q.dead.replay({ messageIds: ['job-2'] });
    expect(replayed.map((l) => l.messageId)).toEqual(['job-2']);
    await eventually(() => expect(q.ran).toEqual([{ n: 2, attempt: 1 }]));
    expect((await q.dead.list()).letters.map((l) => l.messageId)).toEqual(order.filter((id) => id !== 'job-2'));
    expect((await q.dead.replay()).length).toBe(2);
    // job-1 had used its 2 attempts: it runs again as a first attempt.
    await eventually(() =>
      expect([...q.ran].sort((a, b) => a.n - b.n)).toEqual([1, 2, 3].map((n) => ({ n, attempt: 1 }))),
    );
    expect(await q.dead.count()).toBe(0);
    await q.cleanup();
  }, 20_000);

  it('a replayed job that fails again is retried afresh and comes back', async () => {
    const q = await queueWithDeadLetters(1);
    expect((await q.dead.replay({ limit: 1 })).length).toBe(1);
    await eventually(
      async () => expect((await q.dead.list()).letters).toMatchObject([{ messageId: 'job-1', attempts: 2 }]),
      10_000,
    );
    await q.cleanup();
  }, 20_000);

  it('purges the oldest n, or all', async () => {
    const q = await queueWithDeadLetters(3);
    const order = (await q.dead.list()).letters.map((l) => l.messageId);
    expect(await q.dead.purge({ limit: 2 })).toBe(2);
    expect((await q.dead.list()).letters.map((l) => l.messageId)).toEqual(order.slice(2));
    expect(await q.dead.purge()).toBe(1);
    expect(await q.dead.count()).toBe(0);
    await q.cleanup();
  }, 20_000);

  it('a queue with no dead-letter queue is QueueNotFound', async () => {
    const err = await new DeadLetters(conn, { queue: uniqueName('nothing') }).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueNotFound);
    expect((err as Error).message).toMatch(/^no queue nothing_[0-9a-f]+\.dead on the broker/);
  });
});
