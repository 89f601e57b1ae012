import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection, RpcClient, RpcServer } from '.';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// RpcServer.stop({ graceMs }): the request running finishes and replies; one delivered but not
// started (the executor was full) and one still queued stay on the broker for the next server.
describe('RpcServer graceful stop', () => {
  let conn: AmqpConnection;
  const exchange = uniqueName('drain');
  const topic = uniqueName('baremetal-power');

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  });
  afterAll(async () => {
    const ch = await conn.channel();
    for (const q of [topic, `${topic}.h1`]) await ch.deleteQueue(q).catch(() => undefined);
    await ch.close().catch(() => undefined);
    await conn?.close();
  });

  it('finishes the running request, hands back the others', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const server = new RpcServer(conn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [
        {
          version: '1.0',
          methods: {
            slow: async (a) => {
              started.push(Number(a.n));
              await sleep(1500);
              finished.push(Number(a.n));
              return `done ${a.n}`;
            },
          },
        },
      ],
      executorSize: 1,
    });
    await server.start();
    const client = new RpcClient(conn, { exchange, timeout: 10 });
    const first = client.call({ topic, server: 'h1' }, 'slow', { n: 1 });
    await eventually(() => expect(started).toEqual([1]));
    await client.cast({ topic, server: 'h1' }, 'slow', { n: 2 }); // delivered, waits for the executor
    await sleep(200);
    const t = Date.now();
    await server.stop({ graceMs: 10_000 });
    const took = Date.now() - t;
    expect(finished).toEqual([1]); // stop() waited for it (the connection may close right after)
    await client.cast({ topic, server: 'h1' }, 'slow', { n: 3 }); // queued after the stop
    expect(await first).toBe('done 1');
    expect(started).toEqual([1]);
    expect(took).toBeLessThan(3000);
    const ch = await conn.channel();
    expect((await ch.checkQueue(`${topic}.h1`)).messageCount).toBe(2);
    await ch.close();

    // The next server takes them, in order.
    const next = new RpcServer(conn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [{ version: '1.0', methods: { slow: (a) => void started.push(Number(a.n)) } }],
    });
    await next.start();
    await eventually(() => expect(started).toEqual([1, 2, 3]));
    await next.stop();
  });
});
