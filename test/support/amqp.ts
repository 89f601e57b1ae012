import { randomBytes } from 'node:crypto';
import {
  AmqpConnection,
  type CallOptions,
  NotificationListener,
  type ReceivedNotification,
  type RemoteError,
  RpcClient,
  type Target,
  decodeEnvelope,
  fanoutExchange,
} from '@bm/messaging';
import { createVhost, dropVhost, testVhostName, withVhost } from './vhosts';

/**
 * The machine's RabbitMQ (guest/guest on loopback), in the test file's own vhost (set by
 * vhost-environment.js before the file loads).
 */
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'rabbit://guest:guest@127.0.0.1:5672/';

/** The vhost TEST_AMQP_URL names: the test file's own. */
export const TEST_VHOST = decodeURIComponent(new URL(TEST_AMQP_URL).pathname.slice(1)) || '/';

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

/** Makes and starts a server per name, one after the other; each joins `started` once it is up (for afterAll). */
export async function startServers<S extends { start(): Promise<unknown> }>(
  names: string[],
  make: (name: string) => S,
  started: S[],
): Promise<void> {
  for (const name of names) {
    const server = make(name);
    await server.start();
    started.push(server);
  }
}

/** The error `p` rejects with; throws (failing the test) if it resolves instead. */
export async function rejection<E = RemoteError>(p: Promise<unknown>): Promise<E> {
  const r = await p.then(
    (v) => ({ resolved: v }),
    (e: unknown) => ({ rejected: e }),
  );
  if ('resolved' in r) throw new Error(`expected a failure, it returned ${JSON.stringify(r.resolved)}`);
  return r.rejected as E;
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

/** `call(method, kwargs)` on one target with fixed options, e.g. a service's API at its version. */
export type RpcCaller = (method: string, kwargs: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** A test's own place on the bus: a connection, an RpcClient on the exchange, maybe a listener. */
export interface TestBus {
  conn: AmqpConnection;
  rpc: RpcClient;
  caller(target: Partial<Target> & { topic: string }, options: CallOptions): RpcCaller;
  /** Stops the listener, closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to the test broker with an RpcClient on `exchange`; with `notes`, every notification
 * published on the exchange is pushed there (a listener with a pool of its own).
 */
export async function openBus(exchange: string, notes?: ReceivedNotification[]): Promise<TestBus> {
  const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  const rpc = new RpcClient(conn, { exchange });
  let listener: NotificationListener | undefined;
  if (notes) {
    listener = new NotificationListener(conn, {
      exchange,
      pool: uniqueName('pool'),
      handler: (n) => void notes.push(n),
    });
    await listener.start().catch(async (e: unknown) => {
      await conn.close();
      throw e;
    });
  }
  return {
    conn,
    rpc,
    // As our own clients: an admin context unless the test gives one (power and netboot need it).
    caller: (target, options) => (method, kwargs) =>
      rpc.call<Record<string, unknown>>(target, method, kwargs, { context: { roles: ['admin'] }, ...options }),
    close: async () => {
      await listener?.stop();
      await conn.close();
    },
  };
}

/**
 * One more RabbitMQ vhost of a test's own (each test file already runs in one, see
 * vhost-environment.js), for a test that needs two (e.g. a Nova conductor with and without our
 * services): queues that oslo names by topic alone (`conductor`, `scheduler`, …) or one per vhost
 * (our `baremetal.deploy` job queue) are shared inside a vhost. `drop()` deletes it with everything
 * in it; a crashed run's are deleted by the next run (global-setup.js).
 */
export async function privateVhost(
  prefix = 'test',
): Promise<{ name: string; transportUrl: string; drop(): Promise<void> }> {
  const name = testVhostName(prefix);
  await createVhost(TEST_AMQP_URL, name);
  return { name, transportUrl: withVhost(TEST_AMQP_URL, name), drop: () => dropVhost(TEST_AMQP_URL, name) };
}

/**
 * Every message fanned out to `topic`'s servers (the `<topic>_fanout` exchange, which a running
 * server of the topic has declared) from now on, decoded: what those servers receive, in the same
 * order. `stop()` deletes the test's queue.
 */
export async function watchFanout(
  conn: AmqpConnection,
  topic: string,
): Promise<{ messages: Record<string, unknown>[]; stop(): Promise<void> }> {
  const ch = await conn.channel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, fanoutExchange(topic).name, '');
  const messages: Record<string, unknown>[] = [];
  await ch.consume(queue, (m) => m && messages.push(decodeEnvelope(m.content)), { noAck: true });
  return { messages, stop: () => ch.close().catch(() => undefined) };
}

/** Consumers of `queue` in `vhost` (management API; 0 when the queue is not there). */
export async function queueConsumers(vhost: string, queue: string): Promise<number> {
  const amqp = new URL(TEST_AMQP_URL);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(amqp.username)}:${decodeURIComponent(amqp.password)}`).toString('base64')}`;
  const r = await fetch(
    `http://${amqp.hostname}:15672/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`,
    { headers: { authorization: auth } },
  );
  if (r.status === 404) return 0;
  if (!r.ok) throw new Error(`GET queue ${queue}: ${r.status}`);
  return Number(((await r.json()) as { consumers?: number }).consumers ?? 0);
}
