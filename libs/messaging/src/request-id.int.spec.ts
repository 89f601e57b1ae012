import { currentRequestId, inRequest, logContext } from '@bm/core';
import { TEST_AMQP_URL, eventually, startServers, uniqueName } from '../../../test/support/amqp';
import {
  AmqpConnection,
  JobQueue,
  type Logger,
  NotificationListener,
  Notifier,
  type ReceivedNotification,
  RpcClient,
  RpcServer,
} from '.';

// oslo's request_id across our bus: a request keeps one id through every server it reaches,
// the id every log line written for it carries (libs/core's log context).
describe('request ids over RabbitMQ', () => {
  const exchange = uniqueName('reqid');
  const front = uniqueName('front');
  const back = uniqueName('back');
  let conn: AmqpConnection;
  let client: RpcClient;
  const servers: RpcServer[] = [];
  /** What the servers logged, with the request id current when they did. */
  const logged: { message: string; request_id?: string }[] = [];
  const logger: Logger = {
    log: () => undefined,
    warn: (message) => void logged.push({ message, request_id: currentRequestId() }),
    error: (message) => void logged.push({ message, request_id: currentRequestId() }),
    debug: (message) => void logged.push({ message, request_id: currentRequestId() }),
  };

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL, logger });
    client = new RpcClient(conn, { exchange, timeout: 10 });
    await startServers(
      ['front', 'back'],
      (name) =>
        new RpcServer(conn, {
          target: { exchange, topic: name === 'front' ? front : back, server: 'h1' },
          endpoints: [
            {
              version: '1.0',
              methods:
                name === 'front'
                  ? {
                      // The first service: asks the second with a context of its own (no request_id).
                      relay: async () => ({
                        front: currentRequestId(),
                        back: await client.call(
                          { topic: back, server: 'h1' },
                          'whoami',
                          {},
                          { context: { is_admin: true } },
                        ),
                      }),
                      broken: () => {
                        throw new TypeError('a bug');
                      },
                    }
                  : { whoami: (_a, call) => ({ id: currentRequestId(), sent: call.context.request_id }) },
            },
          ],
        }),
      servers,
    );
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    const ch = await conn.channel();
    for (const q of [front, `${front}.h1`, back, `${back}.h1`]) await ch.deleteQueue(q);
    await ch.deleteExchange(exchange);
    await ch.close();
    await client.close();
    await conn.close();
  });

  it("a caller's request_id is the id of the request in both services", async () => {
    const id = 'req-0b7a2c1e-5d4f-4e3a-9b8c-7d6e5f4a3b2c';
    expect(await client.call({ topic: front, server: 'h1' }, 'relay', {}, { context: { request_id: id } })).toEqual({
      front: id,
      back: { id, sent: id },
    });
  });

  it('a request that arrives without one gets a new req-<uuid4>, carried on to the next service', async () => {
    const r = await client.call<{ front: string; back: { id: string } }>({ topic: front, server: 'h1' }, 'relay', {});
    expect(r.front).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(r.back.id).toBe(r.front);
  });

  it("the caller's own request (a bmctl command) is sent when its context names none", async () => {
    const r = await inRequest(() => client.call({ topic: back, server: 'h1' }, 'whoami', {}), 'req-command');
    expect(r).toEqual({ id: 'req-command', sent: 'req-command' });
  });

  it("the server's own lines about a request carry its id", async () => {
    await client
      .call({ topic: front, server: 'h1' }, 'broken', {}, { context: { request_id: 'req-broken' } })
      .catch(() => undefined);
    const lines = await eventually(() => {
      const l = logged.filter((x) => x.message.startsWith('RPC broken'));
      expect(l).toHaveLength(2);
      return l;
    });
    expect(lines[0]).toEqual({
      message: expect.stringContaining('RPC broken: TypeError: a bug'),
      request_id: 'req-broken',
    });
    expect(lines[1]).toEqual({
      message: expect.stringMatching(/^RPC broken \(call from [^)]+\): failed in \d+ ms$/),
      request_id: 'req-broken',
    });
    expect(logContext()).toEqual({});
  });

  it('a notification sent while handling a request carries its request_id', async () => {
    const got: ReceivedNotification[] = [];
    const listener = new NotificationListener(conn, {
      exchange,
      pool: uniqueName('reqid.pool'),
      transient: true,
      handler: (n) => void got.push(n),
    });
    await listener.start();
    const notifier = new Notifier(conn, { exchange, publisherId: 'compute.h1' });
    try {
      await inRequest(() => notifier.info('compute.instance.power_on.end', {}), 'req-notified');
      await notifier.info('compute.instance.power_on.end', {}, { request_id: 'req-own' });
      await notifier.info('compute.instance.power_on.end', {});
      await eventually(() => expect(got).toHaveLength(3));
      expect(got.map((n) => n.context.request_id)).toEqual(['req-notified', 'req-own', undefined]);
    } finally {
      await listener.stop();
    }
  });

  it('a durable job runs under the id of the request that queued it, retries included', async () => {
    const jobs = new JobQueue<{ n: number }>(conn, { queue: uniqueName('reqid.jobs'), retryDelayMs: 10 });
    const seen: (string | undefined)[] = [];
    await jobs.consume(async (job, info) => {
      seen.push(job.n === 1 ? `${currentRequestId()} attempt ${info.attempt}` : currentRequestId());
      if (job.n === 1 && info.attempt === 1) throw new Error('once');
    });
    try {
      await inRequest(() => jobs.publish({ n: 1 }), 'req-deploy');
      await jobs.publish({ n: 2 }); // outside any request
      await eventually(() => expect(seen).toHaveLength(3), 10_000);
      expect(seen).toEqual(
        expect.arrayContaining([
          'req-deploy attempt 1',
          'req-deploy attempt 2',
          expect.stringMatching(/^req-[0-9a-f-]{36}$/),
        ]),
      );
    } finally {
      await jobs.stop();
      const ch = await conn.channel();
      await ch.deleteQueue(jobs.deadQueue);
      await ch.close();
    }
  });
});
