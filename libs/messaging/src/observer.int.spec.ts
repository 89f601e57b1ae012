import { NovaBmError } from '@bm/core';
import { TEST_AMQP_URL, uniqueName } from '../../../test/support/amqp';
import {
  AmqpConnection,
  NoSuchMethod,
  type RpcOutcome,
  RpcClient,
  RpcServer,
  UNKNOWN_METHOD,
  queueDepths,
  topicExchange,
} from '.';

class ChassisNotFound extends NovaBmError {
  readonly name = 'ChassisNotFound';
  readonly kind = 'not_found';
}

type Seen = [string, RpcOutcome];

// What the RPC layer tells the service's metrics (RpcObserver), and the queue depths read for
// bm_queue_messages, on the real broker.
describe('RpcObserver and queueDepths', () => {
  let conn: AmqpConnection;
  const exchange = uniqueName('observe');
  const topic = uniqueName('observed');
  const served: Seen[] = [];
  const called: Seen[] = [];
  const casts: Seen[] = [];
  const seconds: number[] = [];
  let server: RpcServer;
  let client: RpcClient;

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    server = new RpcServer(conn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [
        {
          version: '1.0',
          methods: {
            echo: async (a) => {
              await new Promise((r) => setTimeout(r, 50));
              return a.x;
            },
            gone: () => {
              throw new ChassisNotFound('chassis 7 is gone');
            },
          },
        },
      ],
      observer: {
        served: (m, o, s) => {
          served.push([m, o]);
          seconds.push(s);
        },
      },
    });
    await server.start();
    client = new RpcClient(conn, {
      exchange,
      timeout: 10,
      observer: {
        called: (m, o) => called.push([m, o]),
        cast: (m, o) => casts.push([m, o]),
      },
    });
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    const ch = await conn.channel();
    for (const q of [topic, `${topic}.h1`]) await ch.deleteQueue(q).catch(() => undefined);
    await ch.close().catch(() => undefined);
    await conn?.close();
  });

  it('the server tells each request its method, outcome and time; the client each call', async () => {
    expect(await client.call({ topic }, 'echo', { x: 1 })).toBe(1);
    await expect(client.call({ topic }, 'gone')).rejects.toMatchObject({ name: 'ChassisNotFound' });
    await expect(client.call({ topic }, 'made_up_123')).rejects.toMatchObject({ name: NoSuchMethod.name });
    expect(served).toEqual([
      ['echo', 'ok'],
      ['gone', 'not_found'],
      // A name we do not serve is not a label: a peer cannot grow the metric without end.
      [UNKNOWN_METHOD, 'invalid'],
    ]);
    expect(seconds[0]).toBeGreaterThanOrEqual(0.04);
    expect(seconds[0]).toBeLessThan(5);
    expect(called).toEqual([
      ['echo', 'ok'],
      ['gone', 'not_found'],
      ['made_up_123', 'invalid'],
    ]);
  });

  it('a message that does not parse counts as the unknown method, invalid', async () => {
    served.length = 0;
    await conn.publish(topicExchange(exchange).name, topic, Buffer.from('{not json'), {});
    const t = Date.now();
    while (served.length === 0 && Date.now() - t < 5000) await new Promise((r) => setTimeout(r, 50));
    expect(served).toEqual([[UNKNOWN_METHOD, 'invalid']]);
  });

  it('the client counts each cast and fanout cast once the broker took it', async () => {
    casts.length = 0;
    await client.cast({ topic }, 'echo', { x: 2 });
    await client.fanoutCast(topic, 'echo', { x: 3 });
    expect(casts).toEqual([
      ['echo', 'ok'],
      ['echo', 'ok'],
    ]);
  });

  it('a call that times out is counted as timeout by the client', async () => {
    called.length = 0;
    await expect(client.call({ topic: uniqueName('nobody') }, 'echo', {}, { timeout: 0.3 })).rejects.toMatchObject({
      name: 'MessagingTimeout',
    });
    expect(called).toEqual([['echo', 'timeout']]);
  });

  it('queueDepths reads the ready messages by passive declares; a missing queue is left out', async () => {
    await server.stop(); // nobody consumes: what is cast stays queued
    for (let i = 0; i < 3; i++) await client.cast({ topic, server: 'h1' }, 'echo', { x: i });
    await client.cast({ topic }, 'echo', { x: 9 });
    const missing = uniqueName('no-such-queue');
    const t = Date.now();
    let depths = new Map<string, number>();
    while (Date.now() - t < 5000) {
      depths = await queueDepths(conn, [topic, missing, `${topic}.h1`]);
      if (depths.get(`${topic}.h1`) === 3 && depths.get(topic) === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The missing queue closed its channel; the next one was read on a new channel.
    expect(Object.fromEntries(depths)).toEqual({ [topic]: 1, [`${topic}.h1`]: 3 });
    // Passive: nothing was created.
    expect((await queueDepths(conn, [missing])).size).toBe(0);
  });

  it('queueDepths gives up at its timeout with what it has read, and at once when disconnected', async () => {
    const slow = {
      connected: true,
      channel: async () =>
        ({
          on: () => undefined,
          checkQueue: () => new Promise(() => undefined), // the broker never answers
          close: async () => undefined,
        }) as never,
    };
    const t = Date.now();
    expect((await queueDepths(slow, ['a'], 200)).size).toBe(0);
    expect(Date.now() - t).toBeLessThan(1000);
    expect((await queueDepths({ ...slow, connected: false }, ['a'])).size).toBe(0);
  });
});
