import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection, RpcClient, RpcServer, durableQueueOptions, sharedQueueOptions, topicExchange } from '.';

// A server asked for durable queues where an older version left non-durable ones (RabbitMQ
// refuses a redeclare with other flags): an empty one is replaced, one holding requests is kept
// and served as it is.
describe('RpcServer durableQueues over queues left non-durable', () => {
  const exchange = uniqueName('durable');
  let conn: AmqpConnection;

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  });
  afterAll(async () => {
    await conn?.close();
  });

  /** Whether `queue` is durable: redeclaring it with the other flag is refused. */
  async function isDurable(queue: string): Promise<boolean> {
    const ch = await conn.channel();
    ch.on('error', () => undefined);
    const ok = await ch.assertQueue(queue, durableQueueOptions).then(
      () => true,
      () => false,
    );
    await ch.close().catch(() => undefined);
    return ok;
  }

  it('replaces an empty one, keeps and serves one with messages', async () => {
    const topic = uniqueName('baremetal-power');
    const got: number[] = [];
    // Left by an older version: the shared queue empty, the server's holding a request.
    const ch = await conn.channel();
    const ex = topicExchange(exchange);
    await ch.assertExchange(ex.name, ex.type, ex.options);
    await ch.assertQueue(topic, sharedQueueOptions);
    await ch.assertQueue(`${topic}.h1`, sharedQueueOptions);
    await ch.bindQueue(`${topic}.h1`, exchange, `${topic}.h1`);
    await ch.close();
    await new RpcClient(conn, { exchange }).cast({ topic, server: 'h1' }, 'note', { n: 1 });

    const server = new RpcServer(conn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [{ version: '1.0', methods: { note: (a) => void got.push(Number(a.n)) } }],
      durableQueues: 'all',
    });
    await server.start();
    await eventually(() => expect(got).toEqual([1]));
    expect(await isDurable(topic)).toBe(true);
    expect(await isDurable(`${topic}.h1`)).toBe(false);
    await server.stop();
    const cleanup = await conn.channel();
    for (const q of [topic, `${topic}.h1`]) await cleanup.deleteQueue(q);
    await cleanup.close();
  });
});
