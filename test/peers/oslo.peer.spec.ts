/**
 * Peer tests: our messaging layer against the real Python oslo.messaging (Debian's
 * python3-oslo.messaging, run with /usr/bin/python3) on the machine's RabbitMQ.
 * The Python side is the scripts in test/peers/oslo/, started and stopped here.
 *
 * Everything lives on a fresh exchange and fresh topics, so the file can run next to other tests.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NodeNotFound, novaFailure } from '@bm/domain';
import {
  AmqpConnection,
  type CallInfo,
  MessagingTimeout,
  NotificationListener,
  Notifier,
  type ReceivedNotification,
  RemoteError,
  RpcClient,
  RpcServer,
} from '@bm/messaging';
import { TEST_AMQP_URL, eventually, rejection, startServers, uniqueName } from '../support/amqp';

const PYTHON = '/usr/bin/python3';
const PEERS = join(__dirname, 'oslo');
const PY_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
const VERSION = '5.0';

const exchange = uniqueName('peer');
const oursTopic = uniqueName('ours'); // our RpcServers h1, h2
const pyTopic = uniqueName('py'); // Python rpc_server.py p1, p2
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

jest.setTimeout(30_000);

// --- the Python side ------------------------------------------------------------------------

interface PyError {
  type: string;
  module: string;
  exc_type: string | null;
  message: string;
}
type PyOutcome = { result: unknown; error?: undefined } | { error: PyError; result?: undefined };

interface PyCallOptions {
  topic: string;
  server?: string;
  version?: string;
  namespace?: string;
  timeout?: number;
  callMonitorTimeout?: number;
  fanout?: boolean;
  context?: Record<string, unknown>;
  allowedRemoteExmods?: string[];
}

/** Runs rpc_client.py once; resolves with its one JSON line. */
function pyRpc(
  kind: 'call' | 'cast',
  method: string,
  kwargs: Record<string, unknown>,
  o: PyCallOptions,
): Promise<PyOutcome> {
  const args = [join(PEERS, 'rpc_client.py'), '--url', TEST_AMQP_URL, '--exchange', exchange, '--topic', o.topic];
  if (o.server) args.push('--server', o.server);
  args.push('--version', o.version ?? VERSION);
  if (o.namespace) args.push('--namespace', o.namespace);
  if (o.timeout) args.push('--timeout', String(o.timeout));
  if (o.callMonitorTimeout) args.push('--call-monitor-timeout', String(o.callMonitorTimeout));
  if (o.fanout) args.push('--fanout');
  if (o.context) args.push('--context', JSON.stringify(o.context));
  if (o.allowedRemoteExmods) args.push('--allowed-remote-exmods', o.allowedRemoteExmods.join(','));
  args.push(kind, method, JSON.stringify(kwargs));
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { env: PY_ENV, timeout: 25_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`rpc_client.py ${kind} ${method} failed (${err.message}):\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`rpc_client.py printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** A long-running Python peer: its stdout JSON lines are collected; READY means it is serving. */
class PyProcess {
  readonly lines: unknown[] = [];
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }

  static async start(script: string, args: string[], readyTimeoutMs = 15_000): Promise<PyProcess> {
    const proc = spawn(PYTHON, [join(PEERS, script), '--url', TEST_AMQP_URL, '--exchange', exchange, ...args], {
      env: PY_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = new PyProcess(`${script} ${args.join(' ')}`, proc);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${p.name}: no READY within ${readyTimeoutMs} ms:\n${p.stderr}`));
      }, readyTimeoutMs);
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${p.name} exited (${code}) before READY:\n${p.stderr}`));
      });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        if (line === 'READY') {
          clearTimeout(timer);
          resolve();
        } else {
          try {
            p.lines.push(JSON.parse(line));
          } catch {
            p.lines.push(line);
          }
        }
      });
    });
    return p;
  }

  /** Waits for the process to end by itself; kills it if it does not within `ms`. */
  async exit(ms: number): Promise<number | null> {
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not stopped within `ms`. */
  stop(ms = 5_000): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exit(ms);
  }

  get log(): string {
    return this.stderr;
  }
}

// --- our side ---------------------------------------------------------------------------------

let serverConn: AmqpConnection;
let clientConn: AmqpConnection;
const ourServers: RpcServer[] = [];
const ourCasts: { server: string; args: Record<string, unknown> }[] = [];
const pyServers: Record<string, PyProcess> = {};

function makeOurServer(server: string): RpcServer {
  return new RpcServer(serverConn, {
    target: { exchange, topic: oursTopic, server },
    endpoints: [
      {
        version: VERSION,
        methods: {
          ping: (a) => ({ pong: a.arg, server }),
          record: (a) => void ourCasts.push({ server, args: a }),
          missing_node: (a) => {
            throw new NodeNotFound(Number(a.node));
          },
          echo_context: (_a, call: CallInfo) => call.context,
          slow: async (a, call: CallInfo) => {
            await sleep(Number(a.seconds) * 1000);
            return { seconds: a.seconds, context: call.context };
          },
        },
      },
      { version: '5.2', namespace: 'baremetal', methods: { ping: (a) => ({ pong: a.arg, namespace: 'baremetal' }) } },
    ],
    pingEnabled: server === 'h1',
    describeFailure: novaFailure,
  });
}

beforeAll(async () => {
  const py = Promise.all(
    ['p1', 'p2'].map(
      async (s) =>
        (pyServers[s] = await PyProcess.start('rpc_server.py', [
          '--topic',
          pyTopic,
          '--server',
          s,
          '--version',
          VERSION,
          ...(s === 'p1' ? ['--ping'] : []),
        ])),
    ),
  );
  serverConn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  clientConn = await AmqpConnection.open({ url: TEST_AMQP_URL });
  await startServers(['h1', 'h2'], makeOurServer, ourServers);
  await py;
});

afterAll(async () => {
  await Promise.all(Object.values(pyServers).map((p) => p.stop()));
  for (const s of ourServers) await s.stop();
  if (clientConn) {
    // The shared queues outlive their consumers (oslo's flags): remove what this file made.
    const ch = await clientConn.channel();
    for (const q of [oursTopic, `${oursTopic}.h1`, `${oursTopic}.h2`, pyTopic, `${pyTopic}.p1`, `${pyTopic}.p2`])
      await ch.deleteQueue(q);
    await ch.deleteExchange(exchange);
    await ch.close();
  }
  await clientConn?.close();
  await serverConn?.close();
});

/** The first line of a Python exception's str(): the part without the remote traceback. */
const firstLine = (e: PyError) => e.message.split('\n')[0];

describe('a Python oslo RPCClient calls our RpcServer', () => {
  it('call: server-directed, shared topic, and a namespaced endpoint', async () => {
    const [direct, shared, ns] = await Promise.all([
      pyRpc('call', 'ping', { arg: 'hi' }, { topic: oursTopic, server: 'h2' }),
      pyRpc('call', 'ping', { arg: [1, { a: null }] }, { topic: oursTopic }),
      pyRpc('call', 'ping', { arg: 'ns' }, { topic: oursTopic, server: 'h1', namespace: 'baremetal', version: '5.1' }),
    ]);
    expect(direct).toEqual({ result: { pong: 'hi', server: 'h2' } });
    expect(shared).toEqual({ result: { pong: [1, { a: null }], server: expect.stringMatching(/^h[12]$/) } });
    expect(ns).toEqual({ result: { pong: 'ns', namespace: 'baremetal' } });
  });

  it("oslo's ping (rpc_ping_enabled): pong at 1.0 from our server that enables it, UnsupportedVersion from one that does not", async () => {
    expect(await pyRpc('call', 'oslo_rpc_server_ping', {}, { topic: oursTopic, server: 'h1', version: '1.0' })).toEqual(
      { result: 'pong' },
    );
    const off = (await pyRpc(
      'call',
      'oslo_rpc_server_ping',
      {},
      { topic: oursTopic, server: 'h2', version: '1.0' },
    )) as { error?: { exc_type: string } };
    expect(off.error?.exc_type).toBe('UnsupportedVersion');
  });

  it('cast reaches the method', async () => {
    const tag = uniqueName('cast');
    expect(await pyRpc('cast', 'record', { tag }, { topic: oursTopic, server: 'h1' })).toEqual({ result: null });
    await eventually(() =>
      expect(ourCasts.filter((c) => c.args.tag === tag)).toEqual([{ server: 'h1', args: { tag } }]),
    );
  });

  it('fanout cast reaches both of our servers', async () => {
    const tag = uniqueName('fan');
    await pyRpc('cast', 'record', { tag }, { topic: oursTopic, fanout: true });
    await eventually(() =>
      expect(
        ourCasts
          .filter((c) => c.args.tag === tag)
          .map((c) => c.server)
          .sort(),
      ).toEqual(['h1', 'h2']),
    );
  });

  it('our NovaBmError is a RemoteError with exc_type NodeNotFound and its message', async () => {
    const out = await pyRpc('call', 'missing_node', { node: 7 }, { topic: oursTopic, server: 'h1' });
    expect(out.error).toMatchObject({
      type: 'RemoteError',
      module: 'oslo_messaging.rpc.client',
      exc_type: 'NodeNotFound',
    });
    expect(firstLine(out.error!)).toBe('Remote error: NodeNotFound Node 7 could not be found.');
  });

  // Each failing call goes to our server and to rpc_server.py; the Python client must not be able
  // to tell them apart (same exception class, exc_type and message).
  const sameFailure = async (method: string, o: Omit<PyCallOptions, 'topic' | 'server'>) => {
    const [ours, theirs] = await Promise.all([
      pyRpc('call', method, {}, { ...o, topic: oursTopic, server: 'h1' }),
      pyRpc('call', method, {}, { ...o, topic: pyTopic, server: 'p1' }),
    ]);
    expect(theirs.error).toBeDefined();
    expect(ours.error).toBeDefined();
    expect([ours.error!.type, ours.error!.module, ours.error!.exc_type, firstLine(ours.error!)]).toEqual([
      theirs.error!.type,
      theirs.error!.module,
      theirs.error!.exc_type,
      firstLine(theirs.error!),
    ]);
    return theirs.error!;
  };

  it('NoSuchMethod as a Python oslo server makes the client raise it', async () => {
    const e = await sameFailure('nosuch', {});
    expect([e.type, e.exc_type, firstLine(e)]).toEqual([
      'RemoteError',
      'NoSuchMethod',
      'Remote error: NoSuchMethod Endpoint does not support RPC method nosuch',
    ]);
  });

  it('UnsupportedVersion (version not served) as a Python oslo server makes the client raise it', async () => {
    const e = await sameFailure('ping', { version: '6.0' });
    expect([e.type, e.exc_type, firstLine(e)]).toEqual([
      'RemoteError',
      'UnsupportedVersion',
      'Remote error: UnsupportedVersion Endpoint does not support RPC version 6.0. Attempted method: ping',
    ]);
  });

  it('a namespace nobody serves is UnsupportedVersion, as from a Python oslo server', async () => {
    const e = await sameFailure('ping', { namespace: 'nosuchns' });
    expect([e.type, e.exc_type]).toEqual(['RemoteError', 'UnsupportedVersion']);
  });

  it("a client that allows oslo_messaging.rpc.dispatcher exceptions rebuilds ours as it rebuilds oslo's", async () => {
    // With the module allowed, the client re-creates the class from failure.args/kwargs; a failure
    // it cannot re-create falls back to RemoteError, so extra kwargs would show up here.
    const allowed = { allowedRemoteExmods: ['oslo_messaging.rpc.dispatcher'] };
    const e1 = await sameFailure('nosuch', allowed);
    expect(e1.type).toBe('NoSuchMethod_Remote');
    const e2 = await sameFailure('ping', { ...allowed, version: '6.0' });
    expect(e2.type).toBe('UnsupportedVersion_Remote');
  });

  it('a 3 s method with call_monitor_timeout=2 succeeds (heartbeats) and gets the context', async () => {
    const context = {
      request_id: 'req-00000000-0000-0000-0000-000000000007',
      user_id: 'u1',
      project_id: 'p1',
      is_admin: true,
    };
    const t0 = Date.now();
    const out = await pyRpc(
      'call',
      'slow',
      { seconds: 3 },
      { topic: oursTopic, server: 'h1', timeout: 10, callMonitorTimeout: 2, context },
    );
    expect(out).toEqual({ result: { seconds: 3, context: { ...context, client_timeout: 2 } } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
  });

  it('the context a method sees is the one a Python oslo method sees', async () => {
    const context = { request_id: 'req-1', user_id: 'u1', roles: ['admin', 'member'], auth_token: null };
    const [ours, theirs] = await Promise.all([
      pyRpc('call', 'echo_context', {}, { topic: oursTopic, server: 'h2', context }),
      pyRpc('call', 'echo_context', {}, { topic: pyTopic, server: 'p2', context }),
    ]);
    expect(theirs).toEqual({ result: { ...context, client_timeout: null } });
    expect(ours).toEqual(theirs);
  });
});

describe('our RpcClient calls a Python oslo rpc_server.py', () => {
  let client: RpcClient;
  beforeAll(() => {
    client = new RpcClient(clientConn, { exchange, timeout: 10 });
  });
  afterAll(() => client.close());
  const seen = (server: string, tag: string) =>
    pyServers[server].lines.filter((l) => (l as { args?: { arg?: unknown } }).args?.arg === tag);

  it("oslo's own ping endpoint (rpc_ping_enabled on the Python server) answers our call at 1.0 with pong", async () => {
    expect(await client.call({ topic: pyTopic, server: 'p1' }, 'oslo_rpc_server_ping', {}, { version: '1.0' })).toBe(
      'pong',
    );
  });

  it('call: server-directed and shared', async () => {
    expect(await client.call({ topic: pyTopic, server: 'p1' }, 'ping', { arg: 'hi' }, { version: VERSION })).toEqual({
      pong: 'hi',
      server: 'p1',
    });
    expect(await client.call({ topic: pyTopic }, 'ping', { arg: { n: 1.5 } }, { version: '5.0' })).toEqual({
      pong: { n: 1.5 },
      server: expect.stringMatching(/^p[12]$/),
    });
  });

  it('cast reaches the Python method', async () => {
    const tag = uniqueName('cast');
    await client.cast({ topic: pyTopic, server: 'p2' }, 'ping', { arg: tag }, { version: VERSION });
    await eventually(() => expect(seen('p2', tag)).toEqual([{ called: 'ping', args: { arg: tag }, server: 'p2' }]));
    expect(seen('p1', tag)).toEqual([]);
  });

  it('fanout cast reaches both Python servers', async () => {
    const tag = uniqueName('fan');
    await client.fanoutCast(pyTopic, 'ping', { arg: tag }, { version: VERSION });
    await eventually(() => {
      expect(seen('p1', tag)).toHaveLength(1);
      expect(seen('p2', tag)).toHaveLength(1);
    });
  });

  it('a Python ValueError is a RemoteError named ValueError from module builtins', async () => {
    const e = await rejection(
      client.call({ topic: pyTopic, server: 'p1' }, 'fail', { message: 'disk on fire' }, { version: VERSION }),
    );
    expect(e).toBeInstanceOf(RemoteError);
    expect([e.name, e.message, e.remote.module, e.remote.args, e.remote.kwargs]).toEqual([
      'ValueError',
      'disk on fire',
      'builtins',
      ['disk on fire'],
      {},
    ]);
    expect(e.remote.tb.join('')).toContain('raise ValueError(message)');
  });

  it('NoSuchMethod and UnsupportedVersion from Python', async () => {
    const e1 = await rejection(client.call({ topic: pyTopic, server: 'p1' }, 'nosuch', {}, { version: VERSION }));
    expect(e1).toBeInstanceOf(RemoteError);
    expect([e1.name, e1.remote.module, e1.message]).toEqual([
      'NoSuchMethod',
      'oslo_messaging.rpc.dispatcher',
      'Endpoint does not support RPC method nosuch',
    ]);
    const e2 = await rejection(client.call({ topic: pyTopic, server: 'p1' }, 'ping', {}, { version: '5.1' }));
    expect([e2.name, e2.message]).toEqual([
      'UnsupportedVersion',
      'Endpoint does not support RPC version 5.1. Attempted method: ping',
    ]);
  });

  it('MessagingTimeout for a server that does not exist', async () => {
    const t0 = Date.now();
    const e = await rejection(
      client.call({ topic: pyTopic, server: 'nohost' }, 'ping', {}, { version: VERSION, timeout: 0.5 }),
    );
    expect(e).toBeInstanceOf(MessagingTimeout);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('the context round-trips through echo_context', async () => {
    const context = {
      request_id: 'req-2',
      user_id: 'u2',
      project_id: 'p2',
      is_admin: false,
      roles: ['member'],
      nested: { a: [1, 2] },
    };
    expect(
      await client.call({ topic: pyTopic, server: 'p2' }, 'echo_context', {}, { version: VERSION, context }),
    ).toEqual({ ...context, client_timeout: null });
  });

  it('Python heartbeats keep a 3 s call alive past call_monitor_timeout=2', async () => {
    const t0 = Date.now();
    expect(
      await client.call(
        { topic: pyTopic, server: 'p1' },
        'slow',
        { seconds: 3 },
        { version: VERSION, timeout: 10, callMonitorTimeout: 2 },
      ),
    ).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
  });
});

describe('notifications', () => {
  const context = { request_id: 'req-3', user_id: 'u1', project_id: 'p1' };
  const payload = {
    instance_id: '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01',
    display_name: 'node-01',
    state: 'active',
    memory_mb: 4096,
  };
  const topics: string[] = [];
  afterAll(async () => {
    const ch = await clientConn.channel();
    // Both listeners declare <topic>.<priority> for every priority.
    for (const t of topics)
      for (const p of ['audit', 'debug', 'info', 'warn', 'error', 'critical', 'sample'])
        await ch.deleteQueue(`${t}.${p}`);
    await ch.close();
  });

  it("a Python notification listener receives our Notifier's notification", async () => {
    const topic = uniqueName('notif');
    topics.push(topic);
    const listener = await PyProcess.start('listen.py', ['--topic', topic, '--count', '2', '--timeout', '15']);
    try {
      const notifier = new Notifier(clientConn, { exchange, publisherId: 'compute.h1', topics: [topic] });
      await notifier.info('compute.instance.create.end', payload, context);
      await notifier.error('compute.instance.create.error', { reason: 'no valid host' });
      expect(await listener.exit(20_000)).toBe(0);
    } finally {
      await listener.stop();
    }
    const lines = listener.lines as Record<string, unknown>[];
    const [info, error] = ['info', 'error'].map((p) => lines.find((l) => l.priority === p));
    expect(info).toEqual({
      priority: 'info',
      publisher_id: 'compute.h1',
      event_type: 'compute.instance.create.end',
      payload,
      ctxt: { ...context, client_timeout: null },
      metadata: {
        message_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/),
      },
    });
    expect(error).toMatchObject({
      priority: 'error',
      event_type: 'compute.instance.create.error',
      payload: { reason: 'no valid host' },
      ctxt: { client_timeout: null },
    });
  });

  it("our NotificationListener receives a Python Notifier's notification", async () => {
    const topic = uniqueName('notif');
    topics.push(topic);
    const got: ReceivedNotification[] = [];
    const listener = new NotificationListener(serverConn, {
      exchange,
      topics: [topic],
      handler: (n) => void got.push(n),
    });
    await listener.start();
    try {
      const args = [
        join(PEERS, 'notify.py'),
        '--url',
        TEST_AMQP_URL,
        '--exchange',
        exchange,
        '--topic',
        topic,
        '--publisher-id',
        'compute.p1',
        '--event-type',
        'compute.instance.delete.end',
        '--priority',
        'info',
        '--context',
        JSON.stringify(context),
        JSON.stringify(payload),
      ];
      await new Promise<void>((resolve, reject) =>
        execFile(PYTHON, args, { env: PY_ENV, timeout: 20_000 }, (err, _out, stderr) =>
          err ? reject(new Error(`notify.py: ${err.message}\n${stderr}`)) : resolve(),
        ),
      );
      await eventually(() => expect(got).toHaveLength(1));
    } finally {
      await listener.stop();
    }
    expect(got[0]).toEqual({
      context,
      publisherId: 'compute.p1',
      eventType: 'compute.instance.delete.end',
      priority: 'INFO',
      payload,
      metadata: {
        message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/),
      },
    });
  });
});
