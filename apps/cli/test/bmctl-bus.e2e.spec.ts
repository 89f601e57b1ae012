import { NodeNotFound, novaFailure } from '@bm/domain';
import { AmqpConnection, JobQueue, RpcServer } from '@bm/messaging';
import { TEST_AMQP_URL, TEST_VHOST, eventually, uniqueName } from '../../../test/support/amqp';
import { bmctl, requireBuilt } from '../../../test/support/bmctl';

// bmctl's view of the message bus, against the real RabbitMQ (+ management plugin).

describe('bmctl queues and bmctl rpc', () => {
  const exchange = uniqueName('bmctl');
  const topic = uniqueName('svc');
  const env = { BM_CONTROL_EXCHANGE: exchange, TRANSPORT_URL: TEST_AMQP_URL };
  let conn: AmqpConnection;
  let server: RpcServer;
  const casts: unknown[] = [];

  beforeAll(async () => {
    requireBuilt();
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    server = new RpcServer(conn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [
        {
          version: '1.3',
          methods: {
            ping: (a, call) => ({ pong: a.arg, user: call.context.user_id }),
            missing: () => {
              throw new NodeNotFound(9);
            },
            note: (a) => void casts.push(a),
            slow: () => new Promise((r) => setTimeout(r, 5000)),
          },
        },
      ],
      describeFailure: novaFailure,
    });
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await conn?.close();
  });

  it('rpc call prints the JSON result', async () => {
    const r = await bmctl(
      ['rpc', 'call', '--topic', topic, '--server', 'h1', '--version', '1.0', 'ping', '{"arg": [1, "two"]}'],
      env,
    );
    expect([r.code, JSON.parse(r.out)]).toEqual([0, { pong: [1, 'two'], user: 'bmctl' }]);
  });

  it('a remote error prints its class and message and exits 1', async () => {
    const r = await bmctl(['rpc', 'call', '--topic', topic, 'missing'], env);
    expect([r.code, r.err.trim()]).toEqual([1, 'bmctl: NodeNotFound: Node 9 could not be found.']);
    const v = await bmctl(['rpc', 'call', '--topic', topic, '--version', '2.0', 'ping'], env);
    expect([v.code, v.err.trim()]).toEqual([
      1,
      'bmctl: UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: ping',
    ]);
  });

  it('a timeout exits 2', async () => {
    const r = await bmctl(['rpc', 'call', '--topic', topic, '--server', 'nobody', '--timeout', '0.5', 'ping'], env);
    expect([r.code, r.err]).toEqual([
      2,
      expect.stringMatching(/^bmctl: MessagingTimeout: Timed out waiting for a reply to ping on .*\.nobody/),
    ]);
  });

  it('cast and fanout cast', async () => {
    expect((await bmctl(['rpc', 'cast', '--topic', topic, '--server', 'h1', 'note', '{"n": 1}'], env)).code).toBe(0);
    expect((await bmctl(['rpc', 'cast', '--topic', topic, '--fanout', 'note', '{"n": 2}'], env)).code).toBe(0);
    await eventually(() => expect(casts).toEqual([{ n: 1 }, { n: 2 }]));
  });

  it('bad kwargs are a usage error; an unreachable broker exits 4', async () => {
    const bad = await bmctl(['rpc', 'call', '--topic', topic, 'ping', '{oops'], env);
    expect([bad.code, bad.err]).toEqual([64, expect.stringContaining('kwargs is not JSON')]);
    const down = await bmctl(['rpc', 'call', '--topic', topic, 'ping'], {
      ...env,
      TRANSPORT_URL: 'rabbit://guest:secret@127.0.0.1:1/',
    });
    expect([down.code, down.err.trim()]).toEqual([
      4,
      'bmctl: cannot reach the message broker at rabbit://guest:****@127.0.0.1:1/ (ECONNREFUSED)',
    ]);
  });

  it('queues lists our exchanges and queues with depth, consumers and dead-lettered jobs', async () => {
    const jobsQueue = uniqueName('baremetal.deploy');
    const jobs = new JobQueue(conn, { queue: jobsQueue, maxAttempts: 1, retryDelayMs: 1 });
    await jobs.consume(async () => {
      throw new Error('boom');
    });
    await jobs.publish({ n: 1 });
    const r = await eventually(
      async () => {
        const out = await bmctl(['queues', '--json'], env);
        const view = JSON.parse(out.out);
        const q = view.queues.find((x: { name: string }) => x.name === jobsQueue);
        expect(q.dead).toBe(1);
        // The management API's counts lag (its statistics are sampled): wait for the consumer too.
        expect(view.queues.find((x: { name: string }) => x.name === `${topic}.h1`)?.consumers).toBe(1);
        return view;
      },
      15_000,
      500,
    );
    expect(r.exchanges).toEqual(
      // The test file's own vhost (test/support/vhost-environment.js).
      expect.arrayContaining([{ name: exchange, vhost: TEST_VHOST, type: 'topic', durable: false, autoDelete: false }]),
    );
    const own = r.queues.find((q: { name: string }) => q.name === `${topic}.h1`);
    expect(own).toMatchObject({ consumers: 1, durable: false });
    const human = await bmctl(['queues'], env);
    expect(human.out).toMatch(new RegExp(`${jobsQueue}\\s+│ 0 .*│ 1 `));
    expect(human.out).toMatch(/reply_\* queues hidden/);
    await jobs.stop();
    const down = await bmctl(['queues'], { ...env, BM_RABBIT_MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:1/' });
    expect([down.code, down.err]).toEqual([
      4,
      expect.stringContaining('cannot reach the RabbitMQ management API at http://127.0.0.1:1/'),
    ]);
  }, 30_000);
});
