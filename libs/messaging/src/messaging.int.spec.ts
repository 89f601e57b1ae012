import * as amqp from 'amqplib';
import { TEST_AMQP_URL, eventually, rejection as failure, startServers, uniqueName } from '../../../test/support/amqp';
import { NodeNotFound, describeFailure } from '../../../test/support/errors';
import {
  AmqpConnection,
  type CallInfo,
  ConnectionLost,
  JobQueue,
  MessagingTimeout,
  NotificationListener,
  Notifier,
  PermanentJobError,
  type ReceivedNotification,
  RemoteError,
  RpcClient,
  RpcServer,
  amqpUrl,
  buildCall,
  encodeEnvelope,
  publishProperties,
} from '.';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('messaging against the real RabbitMQ', () => {
  let serverConn: AmqpConnection;
  let clientConn: AmqpConnection;
  let raw: amqp.ChannelModel;
  let ch: amqp.Channel;
  const exchange = uniqueName('int');
  const topic = uniqueName('compute');
  const casts: unknown[] = [];
  const fanouts: string[] = [];
  let contextSeen: CallInfo['context'] | undefined;
  const servers: RpcServer[] = [];

  const makeServer = (server: string) =>
    new RpcServer(serverConn, {
      target: { exchange, topic, server },
      maxMessageBytes: 64 * 1024,
      describeFailure,
      endpoints: [
        {
          version: '6.3',
          methods: {
            ping: (a) => ({ pong: a.arg, server }),
            none: () => undefined,
            cast_me: (a) => void casts.push(a),
            fan: () => void fanouts.push(server),
            missing_node: () => {
              throw new NodeNotFound(42);
            },
            context: (_a, call) => {
              contextSeen = call.context;
              return call.context;
            },
            slow: async (a) => {
              await sleep(Number(a.ms));
              return a.ms;
            },
          },
        },
        { version: '2.0', methods: { ping: () => 'grizzly' } },
      ],
    });

  beforeAll(async () => {
    serverConn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    clientConn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    await startServers(['h1', 'h2'], makeServer, servers);
    raw = await amqp.connect(amqpUrl(TEST_AMQP_URL));
    ch = await raw.createChannel();
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await raw?.close();
    await clientConn?.close();
    await serverConn?.close();
  });

  const client = () => new RpcClient(clientConn, { exchange, timeout: 5 });

  it('declares what an oslo server declares, with the same flags', async () => {
    // A passive check with oslo's flags succeeds; a redeclare with other flags is refused (406).
    await ch.checkExchange(exchange);
    await ch.checkQueue(topic);
    await ch.checkQueue(`${topic}.h1`);
    const other = await raw.createChannel();
    other.on('error', () => undefined);
    await expect(other.assertQueue(topic, { durable: true })).rejects.toThrow(/PRECONDITION_FAILED/);
    const [fq] = servers[0].queues.filter((q) => q.includes('_fanout_'));
    expect(fq).toMatch(new RegExp(`^${topic}_fanout_[0-9a-f]{32}$`));
    const other2 = await raw.createChannel();
    other2.on('error', () => undefined);
    await expect(other2.assertQueue(fq, { durable: false })).rejects.toThrow(/PRECONDITION_FAILED/); // x-expires differs
  });

  it('a server whose queue exists with other flags fails to start, clearly', async () => {
    const clash = uniqueName('clash');
    await ch.assertQueue(clash, { durable: true });
    const bad = new RpcServer(serverConn, { target: { exchange, topic: clash }, endpoints: [] });
    await expect(bad.start()).rejects.toThrow(/PRECONDITION_FAILED/);
    // The connection is fine and keeps serving the others.
    expect(await client().call({ topic, server: 'h1' }, 'ping', { arg: 0 }, { version: '6.0' })).toMatchObject({
      pong: 0,
    });
    await ch.deleteQueue(clash);
  });

  it('call: server-directed and shared, result or null', async () => {
    const c = client();
    expect(await c.call({ topic, server: 'h2' }, 'ping', { arg: 'hi' }, { version: '6.0' })).toEqual({
      pong: 'hi',
      server: 'h2',
    });
    expect(await c.call({ topic }, 'ping', { arg: 1 }, { version: '6.0' })).toMatchObject({ pong: 1 });
    expect(await c.call({ topic, server: 'h1' }, 'none', {}, { version: '6.0' })).toBeNull();
    expect(await c.call({ topic, server: 'h1' }, 'ping', {}, { version: '2.0' })).toBe('grizzly');
  });

  it("oslo's ping endpoint (rpc_ping_enabled): pong at version 1.0, absent unless enabled", async () => {
    const pingTopic = uniqueName('ping');
    const on = new RpcServer(serverConn, {
      target: { exchange, topic: pingTopic, server: 'p' },
      endpoints: [{ version: '6.0', methods: {} }],
      pingEnabled: true,
    });
    await on.start();
    const c = client();
    expect(await c.call({ topic: pingTopic, server: 'p' }, 'oslo_rpc_server_ping', {}, { version: '1.0' })).toBe(
      'pong',
    );
    await on.stop();
    // The shared servers were built without it: oslo's answer for a method nobody serves at 1.0.
    expect((await failure(c.call({ topic, server: 'h1' }, 'oslo_rpc_server_ping', {}, { version: '1.0' }))).name).toBe(
      'UnsupportedVersion',
    );
  });

  it('cast and fanout cast', async () => {
    const c = client();
    await c.cast({ topic, server: 'h1' }, 'cast_me', { n: 1 }, { version: '6.0' });
    await eventually(() => expect(casts).toEqual([{ n: 1 }]));
    await c.fanoutCast(topic, 'fan', {}, { version: '6.0' });
    await eventually(() => expect(fanouts.sort()).toEqual(['h1', 'h2']));
  });

  it('rebuilds the context and adds client_timeout', async () => {
    const ctx = { request_id: 'req-1', user_id: 'u1', project_id: 'p1', is_admin: true };
    await client().call({ topic, server: 'h1' }, 'context', {}, { version: '6.0', context: ctx });
    expect(contextSeen).toEqual({ ...ctx, client_timeout: null });
  });

  it('remote errors come back typed, with oslo names', async () => {
    const c = client();
    const e1 = await failure(c.call({ topic, server: 'h1' }, 'missing_node', {}, { version: '6.0' }));
    expect(e1).toBeInstanceOf(RemoteError);
    expect([e1.name, e1.message, e1.remote.module, e1.remote.kwargs]).toEqual([
      'NodeNotFound',
      'Node 42 could not be found.',
      'nova.exception',
      { nodeRef: 42 },
    ]);
    const e2 = await failure(c.call({ topic, server: 'h1' }, 'nosuch', {}, { version: '6.1' }));
    expect([e2.name, e2.remote.module, e2.message]).toEqual([
      'NoSuchMethod',
      'oslo_messaging.rpc.dispatcher',
      'Endpoint does not support RPC method nosuch',
    ]);
    const e3 = await failure(c.call({ topic, server: 'h1' }, 'ping', {}, { version: '7.0' }));
    expect([e3.name, e3.message]).toEqual([
      'UnsupportedVersion',
      'Endpoint does not support RPC version 7.0. Attempted method: ping',
    ]);
    const e4 = await failure(c.call({ topic, server: 'h1' }, 'ping', {}, { version: '6.0', namespace: 'other' }));
    expect(e4.name).toBe('UnsupportedVersion');
  });

  it('times out with MessagingTimeout naming target and method', async () => {
    const c = client();
    const t = Date.now();
    const e = await failure(c.call({ topic, server: 'nohost' }, 'ping', {}, { timeout: 0.5, version: '6.0' }));
    expect(e).toBeInstanceOf(MessagingTimeout);
    expect(e.message).toContain(`ping on ${exchange}/${topic}.nohost`);
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('call-monitor heartbeats keep a slow call alive past the monitor timeout', async () => {
    const c = client();
    expect(
      await c.call(
        { topic, server: 'h1' },
        'slow',
        { ms: 2500 },
        { version: '6.0', timeout: 10, callMonitorTimeout: 2 },
      ),
    ).toBe(2500);
  });

  it('drops a duplicate (same _unique_id) and keeps serving bad messages', async () => {
    const c = client();
    const msg = buildCall({ method: 'cast_me', args: { dup: true }, version: '6.0' }, 'reply_unused');
    delete (msg as Partial<typeof msg>)._msg_id;
    delete (msg as Partial<typeof msg>)._reply_q;
    const before = casts.length;
    for (let i = 0; i < 2; i++) ch.publish(exchange, `${topic}.h1`, encodeEnvelope(msg), publishProperties());
    await eventually(() => expect(casts.length).toBe(before + 1));
    await sleep(200);
    expect(casts.length).toBe(before + 1);

    // Junk of every kind: not JSON, no method, an unknown envelope version, too large.
    ch.publish(exchange, `${topic}.h1`, Buffer.from('{not json'), publishProperties());
    ch.publish(exchange, `${topic}.h1`, encodeEnvelope({ args: {} }), publishProperties());
    ch.publish(
      exchange,
      `${topic}.h1`,
      Buffer.from(JSON.stringify({ 'oslo.version': '9.0', 'oslo.message': '{}' })),
      publishProperties(),
    );
    expect(await c.call({ topic, server: 'h1' }, 'ping', { arg: 'still here' }, { version: '6.0' })).toMatchObject({
      pong: 'still here',
    });
  });

  it('answers a call whose body is malformed or too large with an error, not a timeout', async () => {
    const c = client();
    const big = await failure(
      c.call({ topic, server: 'h1' }, 'ping', { arg: 'x'.repeat(100 * 1024) }, { version: '6.0' }),
    );
    expect([big.name, big.message]).toEqual([
      'MessageTooLarge',
      expect.stringMatching(/exceeds the limit of 65536 bytes/),
    ]);
    const noMethod = await failure(c.call({ topic, server: 'h1' }, '', {}, { version: '6.0' }));
    expect([noMethod.name, noMethod.message]).toEqual(['MalformedMessage', 'missing "method"']);
  });

  it('many concurrent calls on one client all get their own replies', async () => {
    const c = client();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.call({ topic }, 'ping', { arg: i }, { version: '6.0' })),
    );
    expect(results.map((r) => (r as { pong: number }).pong)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  describe('notifications', () => {
    it('the notifier pre-declares its queue; a listener receives it with context and metadata', async () => {
      const nx = uniqueName('notify');
      const notifier = new Notifier(clientConn, { exchange: nx, publisherId: 'compute.h1', topics: ['notifications'] });
      await notifier.info('compute.instance.create.end', { instance_id: 'i-1' }, { request_id: 'req-2' });
      // Nobody listened yet: the message waits in notifications.info.
      const q = await ch.checkQueue('notifications.info');
      expect(q.messageCount).toBeGreaterThanOrEqual(1);
      const got: ReceivedNotification[] = [];
      const listener = new NotificationListener(serverConn, {
        exchange: nx,
        pool: uniqueName('pool'),
        handler: (n) => void got.push(n),
      });
      await listener.start();
      await notifier.error('compute.instance.create.error', { instance_id: 'i-2' });
      await eventually(() => expect(got.map((n) => n.eventType)).toEqual(['compute.instance.create.error']));
      expect(got[0]).toMatchObject({ publisherId: 'compute.h1', priority: 'ERROR', payload: { instance_id: 'i-2' } });
      expect(got[0].metadata.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      await listener.stop();
      await ch.deleteQueue('notifications.info');
      await ch.deleteQueue('notifications.error');
    });
  });

  describe('durable jobs', () => {
    it('acks after the handler, retries a bounded number of times, then dead-letters with the reason', async () => {
      const queue = uniqueName('baremetal.deploy');
      const jobs = new JobQueue<{ n: number }>(clientConn, { queue, maxAttempts: 3, retryDelayMs: 10 });
      const seen: [number, number][] = [];
      await jobs.consume(async (p, info) => {
        seen.push([p.n, info.attempt]);
        if (p.n === 2) throw new Error('disk on fire');
      });
      await jobs.publish({ n: 1 }, { messageId: 'job-1' });
      await jobs.publish({ n: 2 }, { messageId: 'job-2' });
      await eventually(() =>
        expect(seen).toEqual([
          [1, 1],
          [2, 1],
          [2, 2],
          [2, 3],
        ]),
      );
      const dead = await eventually(async () => {
        const m = await ch.get(jobs.deadQueue, { noAck: true });
        if (!m) throw new Error('nothing dead yet');
        return m;
      });
      expect(JSON.parse(dead.content.toString())).toEqual({ n: 2 });
      expect(dead.properties.headers).toMatchObject({ 'x-failure-reason': 'Error: disk on fire', 'x-attempt': 3 });
      expect(dead.properties.messageId).toBe('job-2');
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
      await jobs.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(jobs.deadQueue);
    });

    it('a job whose consumer dies before acking is redelivered to another', async () => {
      const queue = uniqueName('baremetal.deploy');
      const doomed = await AmqpConnection.open({ url: TEST_AMQP_URL });
      const first = new JobQueue(doomed, { queue });
      let started = false;
      let release!: () => void;
      const never = new Promise<void>((r) => (release = r));
      await first.consume(async () => {
        started = true;
        await never; // does not finish before its connection "dies" below
      });
      await new JobQueue(clientConn, { queue }).publish({ deploy: 7 });
      await eventually(() => expect(started).toBe(true));
      await doomed.close();
      release();

      const second = new JobQueue<{ deploy: number }>(serverConn, { queue });
      const got: [unknown, boolean][] = [];
      await second.consume(async (p, info) => void got.push([p, info.redelivered]));
      await eventually(() => expect(got).toEqual([[{ deploy: 7 }, true]]));
      await second.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(`${queue}.dead`);
    });

    it('a malformed job goes straight to the dead-letter queue', async () => {
      const queue = uniqueName('baremetal.deploy');
      const jobs = new JobQueue(clientConn, { queue });
      await jobs.declare();
      const calls: unknown[] = [];
      await jobs.consume(async (p) => void calls.push(p));
      ch.publish('baremetal.jobs', queue, Buffer.from('{oops'), { persistent: true });
      const dead = await eventually(async () => {
        const m = await ch.get(jobs.deadQueue, { noAck: true });
        if (!m) throw new Error('not yet');
        return m;
      });
      expect(String(dead.properties.headers?.['x-failure-reason'])).toMatch(/^malformed job/);
      expect(calls).toEqual([]);
      await jobs.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(jobs.deadQueue);
    });

    it('a PermanentJobError dead-letters the job after one attempt, with its reason', async () => {
      const queue = uniqueName('baremetal.deploy');
      const jobs = new JobQueue<{ n: number }>(clientConn, { queue, maxAttempts: 3, retryDelayMs: 10 });
      const attempts: number[] = [];
      await jobs.consume(async (_p, info) => {
        attempts.push(info.attempt);
        throw new PermanentJobError('no such image');
      });
      await jobs.publish({ n: 1 }, { messageId: 'job-perm' });
      const dead = await eventually(async () => {
        const m = await ch.get(jobs.deadQueue, { noAck: true });
        if (!m) throw new Error('nothing dead yet');
        return m;
      });
      expect(dead.properties.headers).toMatchObject({
        'x-failure-reason': 'PermanentJobError: no such image',
        'x-attempt': 1,
      });
      expect(dead.properties.messageId).toBe('job-perm');
      await sleep(100); // a retry (10 ms later) would show here
      expect(attempts).toEqual([1]);
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
      await jobs.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(jobs.deadQueue);
    });

    it('stop() lets the running job finish and ack, and starts no new one', async () => {
      const queue = uniqueName('baremetal.deploy');
      const jobs = new JobQueue<{ n: number }>(clientConn, { queue, prefetch: 1 });
      const started: number[] = [];
      const finished: number[] = [];
      let release!: () => void;
      const slow = new Promise<void>((r) => (release = r));
      await jobs.consume(async (p) => {
        started.push(p.n);
        if (p.n === 1) await slow;
        finished.push(p.n);
      });
      await jobs.publish({ n: 1 });
      await eventually(() => expect(started).toEqual([1]));
      await jobs.publish({ n: 2 }); // held back by prefetch 1 until job 1 is acked

      let stopped = false;
      const stopping = jobs.stop().then(() => (stopped = true));
      await sleep(200);
      expect(stopped).toBe(false); // waiting for job 1
      release();
      await stopping;
      expect(finished).toEqual([1]);
      await sleep(100);
      expect(started).toEqual([1]); // job 2 was not started after stop began

      // Job 1 was acked (not redelivered); job 2 waits for the next consumer.
      const next = new JobQueue<{ n: number }>(serverConn, { queue });
      const got: [number, boolean][] = [];
      await next.consume(async (p, info) => void got.push([p.n, info.redelivered]));
      await eventually(() => expect(got).toEqual([[2, false]]));
      await sleep(100);
      expect(got).toEqual([[2, false]]);
      await next.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(`${queue}.dead`);
    });

    it('stop() gives up on a job still running after its timeout, leaving it for redelivery', async () => {
      const queue = uniqueName('baremetal.deploy');
      const jobs = new JobQueue<{ n: number }>(clientConn, { queue });
      let started = false;
      let release!: () => void;
      const never = new Promise<void>((r) => (release = r));
      await jobs.consume(async () => {
        started = true;
        await never;
      });
      await jobs.publish({ n: 1 });
      await eventually(() => expect(started).toBe(true));
      const t0 = Date.now();
      await jobs.stop({ timeoutMs: 200 });
      expect(Date.now() - t0).toBeLessThan(2000);
      release();

      const next = new JobQueue<{ n: number }>(serverConn, { queue });
      const got: [number, boolean][] = [];
      await next.consume(async (p, info) => void got.push([p.n, info.redelivered]));
      await eventually(() => expect(got).toEqual([[1, true]]));
      await next.stop();
      await ch.deleteQueue(queue);
      await ch.deleteQueue(`${queue}.dead`);
    });
  });

  it('publishing while disconnected fails fast with ConnectionLost', async () => {
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    await conn.close();
    await expect(conn.publish('', 'x', Buffer.from('{}'), {})).rejects.toBeInstanceOf(ConnectionLost);
  });
});
