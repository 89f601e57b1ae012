// Flow control on a real RabbitMQ: timeouts that cannot crash a process or overflow a timer,
// back-pressure (prefetch, a bounded executor), publish deadlines and the broker's blocking.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection } from './connection';
import { decodeEnvelope, encodeEnvelope, uuidHex } from './envelope';
import { MessagingTimeout, PublishTimeout } from './errors';
import { Notifier } from './notifications';
import { TcpRelay } from '../../../test/support/tcp-relay';
import { RpcClient } from './rpc-client';
import { RpcServer } from './rpc-server';
import { publishProperties, replyQueueName } from './topology';

const ROOT = join(__dirname, '../../..');
const execFileAsync = promisify(execFile);

/** Runs a child script with ts-node; its exit code and output. */
function runChild(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const loaders = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];
  const child = spawn(process.execPath, [...loaders, join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 12_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, out });
    }),
  );
}

describe('a call whose timeout fires before its publish', () => {
  it('fails with MessagingTimeout and the process lives on (bmctl rpc call --timeout 0.001)', async () => {
    const r = await runChild('libs/messaging/test/call-timeout.child.ts', {
      AMQP_URL: TEST_AMQP_URL,
      EXCHANGE: uniqueName('flowx'),
      TOPIC: uniqueName('flowt'),
    });
    expect({ code: r.code, said: /^@@ (.*)$/m.exec(r.out)?.[1] ?? r.out }).toEqual({
      code: 0,
      said: 'MessagingTimeout',
    });
  });
});

/** A raw AMQP connection of the test's (to play an oslo peer and to look at queues). */
async function rawChannel(): Promise<{ ch: amqp.Channel; confirm: amqp.ConfirmChannel; close(): Promise<void> }> {
  const c = await amqp.connect(TEST_AMQP_URL.replace(/^rabbit:/, 'amqp:'));
  const ch = await c.createChannel();
  const confirm = await c.createConfirmChannel();
  return { ch, confirm, close: () => c.close().catch(() => undefined) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an RPC server', () => {
  let conn: AmqpConnection;
  let raw: Awaited<ReturnType<typeof rawChannel>>;
  beforeAll(async () => {
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    raw = await rawChannel();
  });
  afterAll(async () => {
    await raw.close();
    await conn.close();
  });

  it('clamps the heartbeat interval of a call with _timeout 1e10 (it overflowed into ~900 heartbeats a second)', async () => {
    const exchange = uniqueName('flowx');
    const topic = uniqueName('flowt');
    const server = new RpcServer(conn, {
      target: { exchange, topic },
      endpoints: [{ version: '1.0', methods: { slow: () => sleep(500) } }],
    });
    await server.start();
    try {
      const replyQ = replyQueueName();
      await raw.ch.assertQueue(replyQ, { exclusive: true });
      const replies: Record<string, unknown>[] = [];
      await raw.ch.consume(replyQ, (m) => m && replies.push(decodeEnvelope(m.content)), { noAck: true });
      const msgId = uuidHex();
      const call = { method: 'slow', args: {}, version: '1.0', _msg_id: msgId, _reply_q: replyQ, _timeout: 1e10 };
      raw.ch.publish(exchange, topic, encodeEnvelope({ ...call, _unique_id: uuidHex() }), publishProperties());
      await eventually(() => expect(replies.some((r) => r.ending)).toBe(true), 5000);
      expect(replies.filter((r) => !r.ending)).toHaveLength(0);
    } finally {
      await server.stop();
    }
  });

  it('2000 casts: at most executorSize handlers run and at most prefetch more are held; the rest stay queued', async () => {
    const exchange = uniqueName('flowx');
    const topic = uniqueName('flowt');
    const EXECUTOR = 8;
    const PREFETCH = 16;
    const CASTS = 2000;
    let running = 0;
    let maxRunning = 0;
    let handled = 0;
    const server = new RpcServer(conn, {
      target: { exchange, topic },
      executorSize: EXECUTOR,
      prefetch: PREFETCH,
      endpoints: [
        {
          version: '1.0',
          methods: {
            work: async () => {
              maxRunning = Math.max(maxRunning, ++running);
              await sleep(2);
              running--;
              handled++;
            },
          },
        },
      ],
    });
    await server.start();
    try {
      const body = encodeEnvelope({ method: 'work', args: { pad: 'x'.repeat(1000) }, version: '1.0' });
      for (let i = 0; i < CASTS; i++) raw.confirm.publish(exchange, topic, body, publishProperties());
      await raw.confirm.waitForConfirms();
      // Held by the server = published - still queued on the broker - handled, sampled as it works
      // (handled read after the broker answered: a request finishing meanwhile is not counted as held).
      let maxHeld = 0;
      while (handled < CASTS) {
        const { messageCount } = await raw.ch.checkQueue(topic);
        if (messageCount > 0) maxHeld = Math.max(maxHeld, CASTS - messageCount - handled);
        await sleep(20);
      }
      expect(maxRunning).toBe(EXECUTOR);
      expect(maxHeld).toBeLessThanOrEqual(EXECUTOR + PREFETCH);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

/** rabbitmqctl on the test broker (the machine's). */
async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('rabbitmqctl', ['-q', ...args], { timeout: 10_000 });
  return stdout.trim();
}

describe('publishing while the broker blocks publishers (a memory alarm)', () => {
  // The whole broker blocks publishers (other tests' too) while the alarm is on: a few seconds,
  // undone in the test's finally, by a timer if the test hangs, and after the file whatever happens.
  let watermark = '0.4';
  const restore = () => rabbitmqctl('set_vm_memory_high_watermark', watermark);
  afterAll(() => restore());

  it('publishes wait for the broker up to their deadline; one that expires fails with PublishTimeout and is never sent', async () => {
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const raw = await rawChannel();
    const queue = uniqueName('flowq');
    await raw.ch.assertQueue(queue, { durable: false, autoDelete: false });
    const send = (text: string, timeoutMs: number) =>
      conn.publish('', queue, Buffer.from(text), {}, { timeoutMs }).then(
        () => 'sent',
        (e: Error) => e,
      );
    try {
      expect(await send('before', 5000)).toBe('sent');
      const unblocked = new Promise((r) => conn.once('unblocked', r));
      const now = await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().');
      if (/^0\.\d+$/.test(now)) watermark = now;
      let waiting: Promise<unknown> = Promise.resolve();
      const safety = setTimeout(() => void restore(), 8000);
      try {
        await rabbitmqctl('set_vm_memory_high_watermark', '0.0000001');
        // The broker says it blocks a connection when that connection next publishes.
        const until = Date.now() + 5000;
        while (conn.blocked === undefined && Date.now() < until) await send('probe', 300);
        expect(conn.blocked).toMatch(/memory/i);
        const expired = await send('expired', 200);
        expect(expired).toBeInstanceOf(PublishTimeout);
        expect((expired as Error).message).toMatch(/after 200 ms \(the broker blocks publishes: low on memory\)/);
        waiting = send('after', 10_000);
      } finally {
        clearTimeout(safety);
        await restore();
      }
      await Promise.race([unblocked, sleep(5000)]);
      expect(conn.blocked).toBeUndefined();
      expect(await waiting).toBe('sent');
      const got: string[] = [];
      await raw.ch.consume(queue, (m) => m && got.push(m.content.toString()), { noAck: true });
      await eventually(() => expect(got).toContain('after'));
      // The probes the broker took before blocking (and the one it read after) may be there too.
      expect(got.filter((t) => t !== 'probe')).toEqual(['before', 'after']);
    } finally {
      await raw.close();
      await conn.close();
    }
  });
});

describe('notification queues nobody reads', () => {
  it('are capped by the policy scripts/services.sh sets (deploy/rabbitmq-notification-policy.json): the oldest go', async () => {
    const policy = JSON.parse(readFileSync(join(ROOT, 'deploy/rabbitmq-notification-policy.json'), 'utf8')) as {
      definition: { 'max-length': number };
    };
    const max = policy.definition['max-length'];
    // On this test file's own vhost (the policy is per vhost), as services.sh does for `/`.
    const url = new URL(TEST_AMQP_URL);
    const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    const put = await fetch(`http://${url.hostname}:15672/api/policies/${encodeURIComponent(vhost)}/bm-notifications`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(policy),
    });
    expect(put.status).toBeLessThan(300);

    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const raw = await rawChannel();
    const exchange = uniqueName('flowx');
    try {
      // The Notifier declares notifications.info as oslo does (no arguments); the policy caps it.
      await new Notifier(conn, { exchange, publisherId: 'test.h' }).info('test.event', { n: 0 });
      for (let n = 1; n <= max + 50; n++)
        raw.confirm.publish(
          exchange,
          'notifications.info',
          encodeEnvelope({ event_type: 'test.event', payload: { n } }),
        );
      await raw.confirm.waitForConfirms();
      await eventually(async () => expect((await raw.ch.checkQueue('notifications.info')).messageCount).toBe(max));
      const oldest = await raw.ch.get('notifications.info', { noAck: true });
      expect(oldest && (decodeEnvelope(oldest.content).payload as { n: number }).n).toBe(51);
    } finally {
      await raw.ch.deleteQueue('notifications.info').catch(() => undefined);
      await raw.close();
      await conn.close();
    }
  }, 30_000);
});

describe('a publish the broker refuses', () => {
  it('fails alone: the next publish on the same connection goes through', async () => {
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const raw = await rawChannel();
    try {
      const queue = uniqueName('refused');
      await raw.ch.assertQueue(queue, { exclusive: true });
      // No such exchange: the broker closes the publishing channel (404 NOT_FOUND).
      await expect(conn.publish(uniqueName('nowhere'), 'k', Buffer.from('x'), {})).rejects.toThrow(/NOT_FOUND|closed/i);
      await eventually(() => conn.publish('', queue, Buffer.from('after'), {}), 3000, 50);
      const got = await eventually(async () => {
        const m = await raw.ch.get(queue, { noAck: true });
        if (!m) throw new Error('nothing yet');
        return m.content.toString();
      });
      expect(got).toBe('after');
    } finally {
      await raw.close();
      await conn.close();
    }
  });
});

describe('a call made while the broker is away', () => {
  it('waits for the reconnect and is answered (as oslo retries a publish until the call times out)', async () => {
    const broker = new URL(TEST_AMQP_URL.replace(/^rabbit:/, 'amqp:'));
    const relay = new TcpRelay({ host: broker.hostname, port: Number(broker.port || 5672) });
    const port = await relay.start();
    relay.open = true;
    const viaRelay = new URL(broker.toString());
    viaRelay.port = String(port);
    const exchange = uniqueName('awayx');
    const topic = uniqueName('awayt');
    const serverConn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const clientConn = await AmqpConnection.open({ url: viaRelay.toString(), initialDelayMs: 100, maxDelayMs: 200 });
    const server = new RpcServer(serverConn, {
      target: { exchange, topic, server: 's1' },
      endpoints: [{ version: '1.0', methods: { echo: (a) => a.x } }],
    });
    const client = new RpcClient(clientConn, { exchange, timeout: 10 });
    try {
      await server.start();
      expect(await client.call({ topic }, 'echo', { x: 1 })).toBe(1);
      relay.cut();
      await eventually(() => expect(clientConn.connected).toBe(false));
      const answer = client.call({ topic }, 'echo', { x: 2 });
      await sleep(800);
      relay.open = true;
      expect(await answer).toBe(2);
    } finally {
      await client.close();
      await server.stop();
      await clientConn.close();
      await serverConn.close();
      await relay.stop();
    }
  });
});

describe('a call no queue is bound for yet', () => {
  it('is sent again until its server binds (after a broker restart servers re-bind one by one)', async () => {
    const exchange = uniqueName('unboundx');
    const topic = uniqueName('unboundt');
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const server = new RpcServer(conn, {
      target: { exchange, topic, server: 's1' },
      endpoints: [{ version: '1.0', methods: { echo: (a) => a.x } }],
    });
    const client = new RpcClient(conn, { exchange, timeout: 10 });
    try {
      const answer = client.call({ topic, server: 's1' }, 'echo', { x: 3 });
      await sleep(700);
      await server.start();
      expect(await answer).toBe(3);
      // With no server at all it is still oslo's MessagingTimeout.
      await expect(client.call({ topic: uniqueName('nobody') }, 'echo', { x: 4 }, { timeout: 1 })).rejects.toThrow(
        MessagingTimeout,
      );
    } finally {
      await client.close();
      await server.stop();
      await conn.close();
    }
  });
});
