import { execFile } from 'node:child_process';
import { type Socket, createConnection, createServer } from 'node:net';
import { promisify } from 'node:util';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection, ConnectionLost, JobQueue, RpcClient, RpcServer } from '.';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Restarts the machine's RabbitMQ application (`rabbitmqctl stop_app` / `start_app`) while a
// stream of calls runs: a call already sent fails at once (its reply queue is gone), one not yet
// sent waits for the broker up to its timeout (as oslo's publish retries), nothing hangs past
// its deadline, and after the broker is back the server has redeclared and resubscribed by itself.
describe('broker restart during a stream of calls', () => {
  let serverConn: AmqpConnection;
  let clientConn: AmqpConnection;
  let server: RpcServer;
  const exchange = uniqueName('restart');
  const topic = uniqueName('compute');

  beforeAll(async () => {
    const fast = { url: TEST_AMQP_URL, initialDelayMs: 100, maxDelayMs: 500 };
    serverConn = await AmqpConnection.open(fast);
    clientConn = await AmqpConnection.open({ ...fast, publishTimeoutMs: 1000 });
    server = new RpcServer(serverConn, {
      target: { exchange, topic, server: 'h1' },
      endpoints: [{ version: '1.0', methods: { ping: (a) => a.n } }],
    });
    await server.start();
  });
  afterAll(async () => {
    await run('rabbitmqctl', ['start_app']).catch(() => undefined);
    await server?.stop();
    await clientConn?.close();
    await serverConn?.close();
  });

  it('bounds calls by their timeout while the broker is away and recovers without help', async () => {
    const client = new RpcClient(clientConn, { exchange, timeout: 3 });
    const outcomes: { phase: string; ok: boolean; error?: string; ms: number }[] = [];
    let phase = 'before';
    let stop = false;
    const stream = (async () => {
      for (let n = 0; !stop; n++) {
        const t = Date.now();
        try {
          expect(await client.call({ topic, server: 'h1' }, 'ping', { n })).toBe(n);
          outcomes.push({ phase, ok: true, ms: Date.now() - t });
        } catch (e) {
          outcomes.push({ phase, ok: false, error: (e as Error).name, ms: Date.now() - t });
        }
        await sleep(20);
      }
    })();

    await sleep(300);
    phase = 'outage';
    await run('rabbitmqctl', ['stop_app']);
    await sleep(1000);
    // A cast waits for the broker up to the publish deadline (1 s here), then fails clearly.
    const castAt = Date.now();
    await expect(client.cast({ topic, server: 'h1' }, 'ping', { n: -1 })).rejects.toBeInstanceOf(ConnectionLost);
    expect(Date.now() - castAt).toBeGreaterThanOrEqual(900);
    await run('rabbitmqctl', ['start_app']);
    await run('rabbitmq-diagnostics', ['-q', 'check_running']);
    phase = 'recovering';
    await eventually(
      () => expect(outcomes.filter((o) => o.phase === 'recovering' && o.ok).length).toBeGreaterThan(0),
      20_000,
      100,
    );
    phase = 'after';
    await sleep(300);
    stop = true;
    await stream;

    const by = (p: string) => outcomes.filter((o) => o.phase === p);
    expect(by('before').length).toBeGreaterThan(3);
    expect(by('before').every((o) => o.ok)).toBe(true);
    const failed = by('outage').filter((o) => !o.ok);
    expect(failed.length).toBeGreaterThan(0);
    // Each failure is a clear ConnectionLost or MessagingTimeout, and none outlives the 3 s timeout by much.
    for (const f of failed)
      expect([f.error, f.ms < 4000]).toEqual([expect.stringMatching(/^(ConnectionLost|MessagingTimeout)$/), true]);
    expect(by('after').length).toBeGreaterThan(3);
    expect(by('after').every((o) => o.ok)).toBe(true);
  }, 60_000);
});

// A broker that stops answering on a live TCP connection (here: a relay that stops forwarding)
// must not hold up a shutdown: close() gives up after closeTimeoutMs.
describe('closing while the broker does not answer', () => {
  it('close() resolves after closeTimeoutMs instead of waiting for close-ok forever', async () => {
    const broker = new URL(TEST_AMQP_URL.replace(/^rabbit:/, 'amqp:'));
    let frozen = false;
    const sockets: Socket[] = [];
    const relay = createServer((c) => {
      const u = createConnection(Number(broker.port || 5672), broker.hostname);
      sockets.push(c, u);
      c.on('data', (d) => frozen || u.write(d));
      u.on('data', (d) => frozen || c.write(d));
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as { port: number }).port;
    const conn = await AmqpConnection.open({
      url: `amqp://${broker.username}:${broker.password}@127.0.0.1:${port}/`,
      closeTimeoutMs: 500,
    });
    frozen = true;
    const t = Date.now();
    await conn.close();
    const took = Date.now() - t;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(1500);
    for (const s of sockets) s.destroy();
    relay.close();
  });
});

// What a broker restart keeps of the work waiting in queues: requests queued for a server that
// declares durable queues (our own topics, `<topic>.<host>` of Nova's) and deploy jobs survive;
// those in a non-durable queue (oslo's default, Nova's shared `compute`) are lost.
describe('queued work across a broker restart', () => {
  const exchange = uniqueName('durable');
  const own = uniqueName('baremetal-power');
  const nova = uniqueName('compute');
  let conn: AmqpConnection;

  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL, initialDelayMs: 100, maxDelayMs: 500 });
  });
  afterAll(async () => {
    await run('rabbitmqctl', ['start_app']).catch(() => undefined);
    const ch = await conn.channel().catch(() => undefined);
    for (const q of [own, `${own}.h1`, nova, `${nova}.h1`, `${exchange}.deploy`, `${exchange}.deploy.dead`])
      await ch?.deleteQueue(q).catch(() => undefined);
    await conn?.close();
  });

  it('keeps casts in durable queues and deploy jobs; loses those in non-durable queues', async () => {
    const got: Record<string, number[]> = { own: [], nova: [] };
    const server = (topic: string, kind: 'own' | 'nova', durableQueues?: 'server' | 'all') =>
      new RpcServer(conn, {
        target: { exchange, topic, server: 'h1' },
        endpoints: [{ version: '1.0', methods: { note: (a) => void got[kind].push(Number(a.n)) } }],
        durableQueues,
      });
    // The servers declare their queues, then go away: the casts wait in the queues.
    for (const s of [server(own, 'own', 'all'), server(nova, 'nova', 'server')]) {
      await s.start();
      await s.stop();
    }
    const client = new RpcClient(conn, { exchange });
    for (const [topic, shared] of [
      [own, 1],
      [nova, 11],
    ] as const) {
      await client.cast({ topic }, 'note', { n: shared });
      await client.cast({ topic, server: 'h1' }, 'note', { n: shared + 1 });
    }
    const jobs = new JobQueue<{ n: number }>(conn, { queue: `${exchange}.deploy`, exchange: `${exchange}.jobs` });
    await jobs.publish({ n: 21 });

    await run('rabbitmqctl', ['stop_app']);
    await run('rabbitmqctl', ['start_app']);
    await run('rabbitmq-diagnostics', ['-q', 'check_running']);
    await eventually(() => expect(conn.connected).toBe(true), 20_000, 100);

    const done: number[] = [];
    const again = [server(own, 'own', 'all'), server(nova, 'nova', 'server')];
    for (const s of again) await s.start();
    await jobs.consume(async (j) => void done.push(j.n));
    await eventually(() => expect([got.own.sort(), got.nova, done]).toEqual([[1, 2], [12], [21]]), 10_000, 100);
    await sleep(500); // nothing more arrives: the cast to Nova's shared `compute` queue is gone
    expect(got.nova).toEqual([12]);
    for (const s of again) await s.stop();
    await jobs.stop();
  }, 60_000);
});
