/**
 * Peer test: oslo's request_id between the real Python oslo.messaging (python3-oslo.messaging,
 * /usr/bin/python3) and our services. A Python client's request_id is the request id of every
 * log line our server writes for it (as JSON lines, use_json), and goes on with the calls our
 * server makes on its behalf, here to a Python server.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Logger } from '@nestjs/common';
import { AmqpConnection, RpcClient, RpcServer } from '@bm/messaging';
import { SafeConsoleLogger } from '../../libs/service/src/safe-console-logger';
import { lineFormatter } from '../../libs/service/src/logging/format';
import { TEST_AMQP_URL, uniqueName } from '../support/amqp';

const PYTHON = '/usr/bin/python3';
const PEERS = join(__dirname, 'oslo');
const PY_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
const exchange = uniqueName('reqpeer');
const ours = uniqueName('ours');
const theirs = uniqueName('py');

/** rpc_client.py: one call from a real oslo RPCClient with `context`; its JSON outcome. */
function pyCall(method: string, context: Record<string, unknown>): Promise<unknown> {
  const args = [join(PEERS, 'rpc_client.py'), '--url', TEST_AMQP_URL, '--exchange', exchange, '--topic', ours];
  args.push('--server', 'h1', '--version', '1.0', '--context', JSON.stringify(context), 'call', method, '{}');
  return new Promise((resolve, reject) =>
    execFile(PYTHON, args, { env: PY_ENV, timeout: 25_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!)),
    ),
  );
}

describe("oslo's request_id with a Python oslo.messaging peer", () => {
  let conn: AmqpConnection;
  let client: RpcClient;
  let server: RpcServer;
  let pyServer: ReturnType<typeof spawn>;
  /** The JSON lines our process logged. */
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const format = lineFormatter({ service: 'compute', host: 'h1', pid: process.pid, dateFormat: '%H:%M:%S' }, true);
    Logger.overrideLogger(
      new SafeConsoleLogger({
        sinks: [{ write: (r) => void lines.push(JSON.parse(format(r, false))), close: async () => undefined }],
      }),
    );
    pyServer = spawn(
      PYTHON,
      [join(PEERS, 'rpc_server.py'), '--url', TEST_AMQP_URL, '--exchange', exchange, '--topic', theirs].concat([
        '--server',
        'p1',
        '--version',
        '1.0',
        '--quiet',
      ]),
      { env: PY_ENV, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((ready, failed) => {
      pyServer.once('exit', (code) => failed(new Error(`rpc_server.py exited (${code})`)));
      createInterface({ input: pyServer.stdout! }).on('line', (l) => l === 'READY' && ready());
    });
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    client = new RpcClient(conn, { exchange, timeout: 20 });
    const log = new Logger('spawn');
    server = new RpcServer(conn, {
      target: { exchange, topic: ours, server: 'h1' },
      endpoints: [
        {
          version: '1.0',
          methods: {
            // A method that logs, then asks a Python server, as compute asks power.
            handle: async () => {
              log.log('handling a request from Python');
              return client.call({ topic: theirs, server: 'p1' }, 'echo_context', {}, { version: '1.0' });
            },
          },
        },
      ],
    });
    await server.start();
  });

  afterAll(async () => {
    pyServer?.kill('SIGTERM');
    await server?.stop();
    const ch = await conn.channel();
    for (const q of [ours, `${ours}.h1`, theirs, `${theirs}.p1`]) await ch.deleteQueue(q);
    await ch.deleteExchange(exchange);
    await ch.close();
    await client.close();
    await conn.close();
    Logger.overrideLogger(new SafeConsoleLogger());
  });

  it("a Python client's request_id is on our log line and reaches the Python server we call for it", async () => {
    const requestId = 'req-5d0c3f7e-2a1b-4c9d-8e7f-6a5b4c3d2e1f';
    const out = (await pyCall('handle', { request_id: requestId, user_id: 'u1', roles: ['admin'] })) as {
      result: Record<string, unknown>;
    };
    const line = lines.find((l) => l.message === 'handling a request from Python');
    expect(line).toMatchObject({
      level: 'INFO',
      service: 'compute',
      host: 'h1',
      context: 'spawn',
      request_id: requestId,
    });
    expect(out.result.request_id).toBe(requestId);
  });

  it('a Python call without one runs under a new req-<uuid4>, the same one downstream', async () => {
    lines.length = 0;
    const out = (await pyCall('handle', { user_id: 'u1' })) as { result: Record<string, unknown> };
    const line = lines.find((l) => l.message === 'handling a request from Python')!;
    expect(line.request_id).toMatch(/^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(out.result.request_id).toBe(line.request_id);
  });
});
