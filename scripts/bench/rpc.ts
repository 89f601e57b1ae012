/**
 * bench:rpc — RPC call latency and throughput on the local RabbitMQ, ours against oslo.messaging.
 *
 *   npm run bench:rpc [-- --calls 500 --warmup 50 --concurrency 32 --seconds 5 --max-calls 100000]
 *
 * Three scenarios, each with the server in its own process and the client on its own connection:
 *   (a) Python oslo RPCClient -> Python oslo RPC server   (test/peers/oslo/rpc_client.py, rpc_server.py)
 *   (b) Python oslo RPCClient -> our RpcServer             (this script re-run with --serve)
 *   (c) our RpcClient (in this process) -> our RpcServer   (this script re-run with --serve)
 * For each: `--warmup` untimed calls, then `--calls` sequential calls (latency median/p99), then
 * `--concurrency` concurrent callers sharing one client for `--seconds` (at most `--max-calls`
 * calls): throughput and latency under load. The method is `ping(arg)` -> `{pong, server}`.
 * Ends with one line: RESULT rpc ours=<(c) calls/s> peer=<(a) calls/s> ratio=<ours/peer>.
 *
 * Everything is bounded: counts, a per-call timeout, and a kill timer on every child process.
 * Loopback only (BENCH_AMQP_URL may point at another port/vhost on 127.0.0.1/localhost).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as amqp from 'amqplib';
import { AmqpConnection, RpcClient, RpcServer, amqpUrl, uuidHex } from '@bm/messaging';
import { ensurePeers } from './peers';

const ROOT = join(__dirname, '..', '..');
const PEERS = join(ROOT, 'test', 'peers', 'oslo');
const PYTHON = '/usr/bin/python3';
const PY_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
const URL_ = process.env.BENCH_AMQP_URL ?? 'rabbit://guest:guest@127.0.0.1:5672/';
const VERSION = '5.0';
const CALL_TIMEOUT_S = 10;

interface Opts {
  calls: number;
  warmup: number;
  concurrency: number;
  seconds: number;
  maxCalls: number;
}

interface Run {
  latenciesMs: number[];
  elapsedS: number;
  errors: number;
  firstError?: string;
  /** The most calls waiting for their reply at the same time (proves the callers overlapped). */
  maxInFlight: number;
}

interface Scenario {
  label: string;
  seq: Run;
  conc: Run;
}

// --- child mode: our RpcServer in its own process ------------------------------------------------

async function serve(exchange: string, topic: string, server: string): Promise<void> {
  const conn = await AmqpConnection.open({ url: URL_ });
  const srv = new RpcServer(conn, {
    target: { exchange, topic, server },
    endpoints: [{ version: VERSION, methods: { ping: (a) => ({ pong: a.arg, server }) } }],
  });
  await srv.start();
  console.log('READY');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await srv.stop();
  await conn.close();
  process.exit(0);
}

// --- helpers ------------------------------------------------------------------------------------

function checkLoopback(url: string): void {
  const host = new URL(url.replace(/^rabbit:/, 'amqp:')).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    console.error(`bench:rpc runs on the loopback broker only, not ${host}`);
    process.exit(2);
  }
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > 1_000_000) {
    console.error(`--${name} needs an integer between 1 and 1000000`);
    process.exit(2);
  }
  return v;
}

/** A server process: resolves once it prints READY; stop() sends SIGTERM, then SIGKILL after 5 s. */
async function startServer(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stop(): Promise<void> }> {
  const proc: ChildProcess = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-5000)));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${args[0]}: not READY after 30 s\n${stderr}`));
    }, 30_000);
    proc.on('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before READY\n${stderr}`)));
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l === 'READY') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function ourServer(exchange: string, topic: string, server: string) {
  return startServer(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      '-r',
      'tsconfig-paths/register',
      __filename,
      '--serve',
      exchange,
      topic,
      server,
    ],
    { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
  );
}

function pythonServer(exchange: string, topic: string, server: string) {
  return startServer(
    PYTHON,
    [
      join(PEERS, 'rpc_server.py'),
      '--url',
      URL_,
      '--exchange',
      exchange,
      '--topic',
      topic,
      '--server',
      server,
      '--version',
      VERSION,
      '--quiet',
    ],
    PY_ENV,
  );
}

/**
 * rpc_client.py in benchmark mode: `warmup` untimed calls, then `calls` calls (or as many as
 * `seconds` allow) from `concurrency` threads.
 */
function pythonClient(
  exchange: string,
  topic: string,
  server: string,
  calls: number,
  concurrency: number,
  warmup: number,
  seconds?: number,
): Promise<Run> {
  const args = [
    join(PEERS, 'rpc_client.py'),
    '--url',
    URL_,
    '--exchange',
    exchange,
    '--topic',
    topic,
    '--server',
    server,
    '--version',
    VERSION,
    '--timeout',
    String(CALL_TIMEOUT_S),
    '--repeat',
    String(calls),
    '--concurrency',
    String(concurrency),
    '--warmup',
    String(warmup),
    ...(seconds ? ['--duration', String(seconds)] : []),
    'call',
    'ping',
    '{"arg": "x"}',
  ];
  return new Promise((resolve, reject) =>
    execFile(PYTHON, args, { env: PY_ENV, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`rpc_client.py: ${err.message}\n${stderr.slice(-3000)}`));
      const r = JSON.parse(stdout.trim().split('\n').pop()!);
      resolve({
        latenciesMs: r.latencies_ms,
        elapsedS: r.elapsed_s,
        errors: r.errors,
        firstError: r.first_error ? `${r.first_error.type}: ${r.first_error.message}` : undefined,
        maxInFlight: r.max_in_flight,
      });
    }),
  );
}

/** Our RpcClient: `calls` calls (or as many as `seconds` allow) from `concurrency` async callers sharing the one client. */
async function ourClientRun(
  cli: RpcClient,
  topic: string,
  server: string,
  calls: number,
  concurrency: number,
  seconds?: number,
): Promise<Run> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let left = calls;
  let inFlight = 0;
  let maxInFlight = 0;
  const t0 = process.hrtime.bigint();
  const deadline = seconds ? t0 + BigInt(Math.round(seconds * 1e9)) : undefined;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left > 0 && (deadline === undefined || process.hrtime.bigint() < deadline)) {
        left--;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        const t = process.hrtime.bigint();
        try {
          await cli.call({ topic, server }, 'ping', { arg: 'x' }, { version: VERSION, timeout: CALL_TIMEOUT_S });
          latenciesMs.push(Number(process.hrtime.bigint() - t) / 1e6);
        } catch (e) {
          errors++;
          firstError ??= `${(e as Error).name}: ${(e as Error).message}`;
        } finally {
          inFlight--;
        }
      }
    }),
  );
  return { latenciesMs, elapsedS: Number(process.hrtime.bigint() - t0) / 1e9, errors, firstError, maxInFlight };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function stats(r: Run) {
  const s = [...r.latenciesMs].sort((x, y) => x - y);
  return {
    median: quantile(s, 0.5),
    p99: quantile(s, 0.99),
    rate: r.latenciesMs.length / r.elapsedS,
    n: r.latenciesMs.length,
  };
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function versions(): Promise<{ python: string; oslo: string; rabbit: string }> {
  const py = new Promise<string>((resolve) =>
    execFile(
      PYTHON,
      ['-c', 'import sys, importlib.metadata as m; print(sys.version.split()[0], m.version("oslo.messaging"))'],
      { timeout: 10_000 },
      (err, out) => resolve(err ? '? ?' : out.trim()),
    ),
  );
  const rabbit = amqp
    .connect(amqpUrl(URL_))
    .then(async (c) => {
      const v = String(
        (c.connection as unknown as { serverProperties?: { version?: unknown } }).serverProperties?.version ?? '?',
      );
      await c.close();
      return v;
    })
    .catch(() => '?');
  return Promise.all([py, rabbit]).then(([p, rabbit]) => ({ python: p.split(' ')[0], oslo: p.split(' ')[1], rabbit }));
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  checkLoopback(URL_);
  await ensurePeers({ rabbitmq: !process.env.BENCH_AMQP_URL });
  const o: Opts = {
    calls: arg('calls', 500),
    warmup: arg('warmup', 50),
    concurrency: arg('concurrency', 32),
    seconds: arg('seconds', 5),
    maxCalls: arg('max-calls', 100_000),
  };
  const exchange = `bench_${uuidHex().slice(0, 8)}`;
  const topics = { a: `${exchange}_a`, b: `${exchange}_b`, c: `${exchange}_c` };
  const server = 'bench1';
  const v = await versions();
  console.log(
    `bench:rpc ${new Date().toISOString()} | ${cpus().length} CPUs | node ${process.version} | python ${v.python}, oslo.messaging ${v.oslo} | RabbitMQ ${v.rabbit} on loopback`,
  );
  console.log(
    `each scenario: ${o.warmup} warm-up calls, ${o.calls} sequential calls, then ${o.concurrency} concurrent callers on one client ` +
      `for ${o.seconds} s (at most ${o.maxCalls} calls); ping(arg) -> {pong, server}; server in its own process\n`,
  );

  const results: Scenario[] = [];
  const step = (s: string) => process.stderr.write(`  ${s}...\n`);

  step('(a) Python client -> Python oslo server');
  let srv = await pythonServer(exchange, topics.a, server);
  try {
    const seq = await pythonClient(exchange, topics.a, server, o.calls, 1, o.warmup);
    const conc = await pythonClient(exchange, topics.a, server, o.maxCalls, o.concurrency, o.warmup, o.seconds);
    results.push({ label: '(a) Python client -> Python server', seq, conc });
  } finally {
    await srv.stop();
  }

  step('(b) Python client -> our RpcServer');
  srv = await ourServer(exchange, topics.b, server);
  try {
    const seq = await pythonClient(exchange, topics.b, server, o.calls, 1, o.warmup);
    const conc = await pythonClient(exchange, topics.b, server, o.maxCalls, o.concurrency, o.warmup, o.seconds);
    results.push({ label: '(b) Python client -> our RpcServer', seq, conc });
  } finally {
    await srv.stop();
  }

  step('(c) our RpcClient -> our RpcServer');
  srv = await ourServer(exchange, topics.c, server);
  const conn = await AmqpConnection.open({ url: URL_ });
  const cli = new RpcClient(conn, { exchange, timeout: CALL_TIMEOUT_S });
  try {
    await ourClientRun(cli, topics.c, server, o.warmup, 1);
    const seq = await ourClientRun(cli, topics.c, server, o.calls, 1);
    const conc = await ourClientRun(cli, topics.c, server, o.maxCalls, o.concurrency, o.seconds);
    results.push({ label: '(c) our RpcClient -> our RpcServer', seq, conc });
  } finally {
    await srv.stop();
    await cli.close();
    // Remove what the run declared (the Python clients' reply queues expire by themselves).
    const ch = await conn.channel();
    for (const t of Object.values(topics))
      for (const q of [t, `${t}.${server}`]) await ch.deleteQueue(q).catch(() => undefined);
    await ch.deleteQueue(cli.replyQueue).catch(() => undefined);
    await ch.deleteExchange(exchange).catch(() => undefined);
    await ch.close().catch(() => undefined);
    await conn.close();
  }

  // --- report ---
  const rows = results.map((r) => ({
    label: r.label,
    seq: stats(r.seq),
    conc: stats(r.conc),
    maxInFlight: r.conc.maxInFlight,
    errors: r.seq.errors + r.conc.errors,
    firstError: r.seq.firstError ?? r.conc.firstError,
  }));
  const cx = `x${o.concurrency}`;
  const head = [
    'scenario',
    'seq median ms',
    'seq p99 ms',
    'seq calls/s',
    `${cx} calls/s`,
    `${cx} median ms`,
    `${cx} p99 ms`,
    `${cx} calls`,
    'max in flight',
    'errors',
  ];
  const table = rows.map((r) => [
    r.label,
    f(r.seq.median),
    f(r.seq.p99),
    f(r.seq.rate, 0),
    f(r.conc.rate, 0),
    f(r.conc.median),
    f(r.conc.p99),
    String(r.conc.n),
    String(r.maxInFlight),
    String(r.errors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const t of table) console.log(line(t));
  for (const r of rows) if (r.firstError) console.log(`  ${r.label}: first error: ${r.firstError.split('\n')[0]}`);

  const [a, b, c] = rows;
  console.log('\nratios against (a) (> 1 = better than Python -> Python):');
  for (const [name, x] of [
    ['b/a', b],
    ['c/a', c],
  ] as const) {
    console.log(
      `  ${name}: throughput x${o.concurrency} ${f(x.conc.rate / a.conc.rate)}, sequential calls/s ${f(x.seq.rate / a.seq.rate)}, ` +
        `sequential median latency ${f(a.seq.median / x.seq.median)} (a/${name[0]}), p99 ${f(a.seq.p99 / x.seq.p99)} (a/${name[0]})`,
    );
  }
  console.log(`RESULT rpc ours=${f(c.conc.rate, 0)} peer=${f(a.conc.rate, 0)} ratio=${f(c.conc.rate / a.conc.rate)}`);
}

if (process.argv[2] === '--serve') {
  const [exchange, topic, server] = process.argv.slice(3);
  serve(exchange, topic, server).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  // No process.exit() on success: it can cut off stdout written to a pipe. A stray handle
  // cannot keep the process alive past this unref'd timer either.
  main().then(
    () => void setTimeout(() => process.exit(0), 5000).unref(),
    (e) => {
      console.error(e);
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 5000).unref();
    },
  );
}
