/**
 * bench:ipmi — a power-status sweep of 200 BMCs: our native IpmiClient against ipmitool.
 *
 *   npm run bench:ipmi [-- --bmcs 200 --reps 5 --reps-a 3 --reps-b 3 --dead 20 --dead-deadline 1000 --workers 8 --queries 100]
 *
 * The BMCs are our VirtualBmc (SimulatedMachine; BMC i is powered on iff i is odd), all in one
 * child process (this script re-run with `--serve N`), so their CPU is not in the measured
 * client's event loop. Loopback UDP only.
 *   (a)  ipmitool -I lanplus -C 3 … -E chassis power status, one process per BMC, 8 at a time
 *        (Ironic's default sync_power_state_workers = 8);
 *   (b)  the same, one at a time (legacy Nova);
 *   (c1) our IpmiClient, fresh sessions (a new client per sweep: every BMC needs a full login),
 *        all BMCs at once;
 *   (c2) the same client again, sessions held, all BMCs at once.
 * Every answer is checked against the BMC's known power state. Then `--dead` BMCs are stopped
 * (their ports closed) and the sweep is repeated with a per-call deadline: time until the healthy
 * ones are done, and until the dead ones report BmcUnreachable. Last, our client against
 * ipmi_sim and the pyghmi fake BMC (test/peers/ipmi/harness.ts) next to ipmitool's one-shot.
 * Ends with one line: RESULT ipmi ours=<c2 sweep ms> peer=<(a) sweep ms> ratio=<a/c2>.
 *
 * Passwords reach ipmitool only in the environment (IPMI_PASSWORD, `-E`). Every loop is bounded
 * in count and every call by a deadline; every child is killed at the end, on error, on
 * SIGINT/SIGTERM, and (serve child) when this process's stdin pipe to it closes.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BmcUnreachable, type BmcCredentials, IpmiClient, SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import { freeUdpPort, ipmitool, startFakeBmc, startIpmiSim } from '../../test/peers/ipmi/harness';
import { ensurePeers } from './peers';

const ROOT = join(__dirname, '..', '..');
const HOST = '127.0.0.1';
const USER = 'admin';
const PASSWORD = 'password';
const DEADLINE_MS = 5000; // per call, (c1)/(c2)
const IPMITOOL_TIMEOUT_MS = 10_000; // per process
const WATCHDOG_MS = 240_000; // the whole run (normally 40–55 s)

// --- child mode: N VirtualBmcs in their own process -----------------------------------------

async function serve(n: number): Promise<void> {
  const bmcs: VirtualBmc[] = [];
  for (let i = 0; i < n; i++) {
    const b = new VirtualBmc({
      port: 0,
      address: HOST,
      users: { [USER]: PASSWORD },
      machine: new SimulatedMachine({ powerOn: i % 2 === 1 }),
    });
    await b.start();
    bmcs.push(b);
  }
  console.log(`PORTS ${bmcs.map((b) => b.port).join(',')}`);
  console.log('READY');
  const byPort = new Map(bmcs.map((b) => [b.port, b]));
  let quit!: () => void;
  const done = new Promise<void>((r) => (quit = r));
  process.once('SIGTERM', () => quit());
  process.once('SIGINT', () => quit());
  // Commands on stdin: `stop <port>,<port>,…` → `STOPPED`. EOF (the parent is gone) → exit.
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (l) => {
    const m = /^stop ([\d,]+)$/.exec(l.trim());
    if (!m) return;
    void Promise.all(m[1].split(',').map((p) => byPort.get(Number(p))?.stop())).then(() => console.log('STOPPED'));
  });
  lines.on('close', () => quit());
  await done;
  await Promise.all(bmcs.map((b) => b.stop()));
  process.exit(0);
}

interface BmcFarm {
  ports: number[];
  stopSome(ports: number[]): Promise<void>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

async function startFarm(n: number): Promise<BmcFarm> {
  const proc = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', __filename, '--serve', String(n)],
    {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.add(proc);
  proc.stdin!.on('error', () => undefined);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-5000)));
  const exited = new Promise<void>((r) => proc.on('exit', () => (children.delete(proc), r())));
  const lines = createInterface({ input: proc.stdout! });
  const waitLine = (pred: (l: string) => boolean, ms: number, what: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => (lines.off('line', onLine), reject(new Error(`BMC farm: no ${what} within ${ms} ms\n${stderr}`))),
        ms,
      );
      const onLine = (l: string) => {
        if (!pred(l)) return;
        clearTimeout(timer);
        lines.off('line', onLine);
        resolve(l);
      };
      lines.on('line', onLine);
      void exited.then(
        () => (
          clearTimeout(timer),
          reject(new Error(`BMC farm exited (${proc.exitCode ?? proc.signalCode})\n${stderr}`))
        ),
      );
    });
  const portsLine = waitLine((l) => l.startsWith('PORTS '), 60_000, 'PORTS');
  await waitLine((l) => l === 'READY', 60_000, 'READY');
  const ports = (await portsLine).slice(6).split(',').map(Number);
  if (ports.length !== n || ports.some((p) => !Number.isInteger(p) || p <= 0))
    throw new Error(`BMC farm: bad PORTS line`);
  return {
    ports,
    async stopSome(some) {
      const ack = waitLine((l) => l === 'STOPPED', 10_000, 'STOPPED');
      proc.stdin!.write(`stop ${some.join(',')}\n`);
      await ack;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.stdin!.end();
        proc.kill('SIGTERM');
      }
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function killChildren(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

// --- measuring ----------------------------------------------------------------------------

const now = () => Number(process.hrtime.bigint()) / 1e6;

interface Sweep {
  /** Until the last BMC of the sweep answered (or failed). */
  totalMs: number;
  /** Per BMC, from the start of the sweep (c) or of its own process (a, b). */
  perBmcMs: number[];
  ok: boolean[];
  errors: string[];
  /** UDP receive-buffer drops on this host while the sweep ran (/proc/net/snmp, system-wide). */
  rcvbufErrors: number;
}

function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const head = lines[0].split(/\s+/);
    const vals = lines[1].split(/\s+/);
    return Number(vals[head.indexOf('RcvbufErrors')]) || 0;
  } catch {
    return NaN;
  }
}

const expectedOn = (i: number) => i % 2 === 1;

async function ipmitoolSweep(ports: number[], workers: number): Promise<Sweep> {
  const perBmcMs: number[] = new Array(ports.length).fill(NaN);
  const ok: boolean[] = new Array(ports.length).fill(false);
  const errors: string[] = [];
  let next = 0;
  const drops0 = udpRcvbufErrors();
  const t0 = now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < ports.length) {
        const i = next++;
        const t = now();
        const r = await ipmitool(['chassis', 'power', 'status'], {
          port: ports[i],
          user: USER,
          password: PASSWORD,
          timeoutMs: IPMITOOL_TIMEOUT_MS,
        });
        perBmcMs[i] = now() - t;
        const m = /Chassis Power is (on|off)/.exec(r.stdout);
        ok[i] = r.code === 0 && m !== null && (m[1] === 'on') === expectedOn(i);
        if (!ok[i]) errors.push(`port ${ports[i]}: code ${r.code} ${(r.stdout + r.stderr).trim().split('\n').pop()}`);
      }
    }),
  );
  return { totalMs: now() - t0, perBmcMs, ok, errors, rcvbufErrors: udpRcvbufErrors() - drops0 };
}

async function ourSweep(
  client: IpmiClient,
  creds: BmcCredentials[],
  deadlineMs: number,
  expect = expectedOn,
): Promise<Sweep & { errorNames: string[] }> {
  const perBmcMs: number[] = new Array(creds.length).fill(NaN);
  const ok: boolean[] = new Array(creds.length).fill(false);
  const errors: string[] = [];
  const errorNames: string[] = new Array(creds.length).fill('');
  const drops0 = udpRcvbufErrors();
  const t0 = now();
  await Promise.all(
    creds.map(async (c, i) => {
      try {
        const s = await client.powerStatus(c, deadlineMs);
        ok[i] = s.powerOn === expect(i);
        if (!ok[i]) errors.push(`port ${c.port}: powerOn=${s.powerOn}, expected ${expect(i)}`);
      } catch (e) {
        errorNames[i] = e instanceof BmcUnreachable ? 'BmcUnreachable' : (e as Error).name;
        errors.push(`${(e as Error).name}: ${(e as Error).message}`);
      } finally {
        perBmcMs[i] = now() - t0;
      }
    }),
  );
  return { totalMs: now() - t0, perBmcMs, ok, errors, errorNames, rcvbufErrors: udpRcvbufErrors() - drops0 };
}

function quantile(xs: number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const median = (xs: number[]) => quantile(xs, 0.5);
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function arg(name: string, dflt: number, min = 1, max = 100_000): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`--${name} needs an integer between ${min} and ${max}`);
    process.exit(2);
  }
  return v;
}

function versions(): Promise<string> {
  return new Promise((resolve) =>
    execFile(
      'dpkg-query',
      ['-W', '-f', '${Package} ${Version}; ', 'ipmitool', 'openipmi', 'python3-pyghmi'],
      { timeout: 10_000 },
      (err, out) => resolve(err ? '(dpkg-query failed)' : out.trim().replace(/;$/, '')),
    ),
  );
}

const step = (s: string) => process.stderr.write(`  ${s}...\n`);

// --- one peer BMC: our client vs ipmitool ---------------------------------------------------

interface PeerRow {
  label: string;
  ipmitoolMs: number[];
  freshMs: number[];
  heldMs: number[];
  errors: string[];
}

async function peerRow(label: string, port: number, queries: number): Promise<PeerRow> {
  const creds: BmcCredentials = { host: HOST, port, user: USER, password: PASSWORD };
  const errors: string[] = [];
  const ipmitoolMs: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t = now();
    const r = await ipmitool(['chassis', 'power', 'status'], {
      port,
      user: USER,
      password: PASSWORD,
      timeoutMs: IPMITOOL_TIMEOUT_MS,
    });
    const ms = now() - t;
    if (r.code !== 0 || !/Chassis Power is (on|off)/.test(r.stdout))
      errors.push(`ipmitool: code ${r.code} ${r.stderr.trim().split('\n').pop()}`);
    else if (i > 0) ipmitoolMs.push(ms); // the first one is untimed (page cache)
  }
  const freshMs: number[] = [];
  const heldMs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const c = new IpmiClient({ deadlineMs: DEADLINE_MS });
    try {
      const t = now();
      await c.powerStatus(creds);
      if (i > 0) freshMs.push(now() - t); // the first one is a warm-up
      if (i === 5) {
        for (let k = 0; k < 10; k++) await c.powerStatus(creds);
        for (let k = 0; k < queries; k++) {
          const tq = now();
          await c.powerStatus(creds);
          heldMs.push(now() - tq);
        }
      }
    } catch (e) {
      errors.push(`ours: ${(e as Error).name}: ${(e as Error).message}`);
    } finally {
      await c.close();
    }
  }
  return { label, ipmitoolMs, freshMs, heldMs, errors };
}

// --- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = {
    bmcs: arg('bmcs', 200, 2, 1000),
    reps: arg('reps', 5, 1, 50),
    repsA: arg('reps-a', 3, 1, 20),
    repsB: arg('reps-b', 3, 1, 20),
    dead: arg('dead', 20, 1, 500),
    deadDeadline: arg('dead-deadline', 1000, 100, 10_000),
    workers: arg('workers', 8, 1, 64),
    queries: arg('queries', 100, 1, 10_000),
  };
  if (o.dead >= o.bmcs) throw new Error('--dead must be below --bmcs');
  const cpuModel = cpus()[0]?.model ?? '?';
  console.log(
    `bench:ipmi ${new Date().toISOString()} | ${cpus().length} CPUs (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GB, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} | node ${process.version} | ${await versions()}`,
  );
  console.log(
    `${o.bmcs} VirtualBmcs (cipher suite 3) in one child process on 127.0.0.1; sweep = Get Chassis Status of every BMC, answers checked; ` +
      `(a)/(b) median of ${o.repsA}/${o.repsB} sweeps, (c1)/(c2) median of ${o.reps}; our deadline ${DEADLINE_MS} ms/call, retry 250 ms (defaults)\n`,
  );

  step(`starting ${o.bmcs} VirtualBmcs`);
  const farm = await startFarm(o.bmcs);
  try {
    const creds: BmcCredentials[] = farm.ports.map((port) => ({ host: HOST, port, user: USER, password: PASSWORD }));

    // Warm-up (untimed): one full sweep of ours (JIT), one ipmitool run (page cache).
    step('warm-up');
    {
      const w = new IpmiClient({ deadlineMs: DEADLINE_MS });
      const s = await ourSweep(w, creds, DEADLINE_MS);
      await w.close();
      if (s.errors.length) throw new Error(`warm-up sweep failed: ${s.errors[0]}`);
      await ipmitool(['chassis', 'power', 'status'], { port: farm.ports[0], user: USER, password: PASSWORD });
    }

    step(`(a) ipmitool, ${o.workers} at a time, ${o.repsA} sweeps`);
    const a: Sweep[] = [];
    for (let r = 0; r < o.repsA; r++) a.push(await ipmitoolSweep(farm.ports, o.workers));
    step(`(b) ipmitool, one at a time, ${o.repsB} sweeps`);
    const b: Sweep[] = [];
    for (let r = 0; r < o.repsB; r++) b.push(await ipmitoolSweep(farm.ports, 1));

    step(`(c1)/(c2) our IpmiClient, ${o.reps} x (new client: fresh sweep, then held sweep)`);
    const c1: Sweep[] = [];
    const c2: Sweep[] = [];
    for (let r = 0; r < o.reps; r++) {
      const client = new IpmiClient({ deadlineMs: DEADLINE_MS });
      try {
        c1.push(await ourSweep(client, creds, DEADLINE_MS));
        c2.push(await ourSweep(client, creds, DEADLINE_MS));
      } finally {
        await client.close(); // untimed: Close Session to every BMC
      }
    }

    // --- dead BMCs ---
    // Every (bmcs/dead)-th BMC is stopped: its port is closed (the kernel answers with ICMP
    // port unreachable, which an unconnected UDP socket does not see: to the client it is silence).
    const stride = Math.floor(o.bmcs / o.dead);
    const deadIdx = new Set(Array.from({ length: o.dead }, (_, k) => k * stride + Math.floor(stride / 2)));
    step(`dead BMCs: held sessions on all ${o.bmcs}, then stop ${o.dead} of them`);
    const held = new IpmiClient({ deadlineMs: DEADLINE_MS });
    const deadRuns: { label: string; s: Sweep & { errorNames: string[] } }[] = [];
    try {
      const pre = await ourSweep(held, creds, DEADLINE_MS);
      if (pre.errors.length) throw new Error(`sweep before stopping BMCs failed: ${pre.errors[0]}`);
      await farm.stopSome([...deadIdx].map((i) => farm.ports[i]));
      // (d1) sessions were held with the dead BMCs too: the client first retransmits in the
      // session, then tries a new login, all within the deadline.
      deadRuns.push({
        label: `(d1) held sessions, deadline ${o.deadDeadline} ms`,
        s: await ourSweep(held, creds, o.deadDeadline),
      });
      // (d2) a new client: every BMC needs a login; the dead ones never answer the first step.
      for (let r = 0; r < 2; r++) {
        const fresh = new IpmiClient({ deadlineMs: DEADLINE_MS });
        try {
          deadRuns.push({
            label: `(d2) fresh sessions, deadline ${o.deadDeadline} ms`,
            s: await ourSweep(fresh, creds, o.deadDeadline),
          });
          deadRuns.push({
            label: `(d3) then held, deadline ${o.deadDeadline} ms`,
            s: await ourSweep(fresh, creds, o.deadDeadline),
          });
        } finally {
          await fresh.close();
        }
      }
    } finally {
      await held.close();
    }

    // --- peers ---
    step('our client vs ipmitool against ipmi_sim and the pyghmi fake BMC');
    const peers: PeerRow[] = [];
    peers.push(await peerRow(`our VirtualBmc (1 of ${o.bmcs}, healthy)`, farm.ports[1], o.queries));
    {
      const sim = await startIpmiSim({ port: await freeUdpPort(), user: USER, password: PASSWORD, power: 'on' });
      try {
        peers.push(await peerRow('ipmi_sim (OpenIPMI)', sim.port, o.queries));
      } finally {
        await sim.stop();
      }
    }
    {
      const fake = await startFakeBmc({ port: await freeUdpPort(), user: USER, password: PASSWORD, power: 'on' });
      try {
        peers.push(await peerRow('pyghmi fake BMC (fake_bmc.py)', fake.port, o.queries));
      } finally {
        await fake.stop();
      }
    }

    // --- report ---
    const med = (xs: Sweep[]) => median(xs.map((s) => s.totalMs));
    const pooled = (xs: Sweep[], q: number) =>
      quantile(
        xs.flatMap((s) => s.perBmcMs),
        q,
      );
    const failures = (xs: Sweep[]) => xs.reduce((n, s) => n + s.ok.filter((x) => !x).length, 0);
    const drops = (xs: Sweep[]) => xs.reduce((n, s) => n + s.rcvbufErrors, 0);
    const runs = (xs: Sweep[]) => xs.map((s) => f(s.totalMs)).join(' ');
    const rows: [string, Sweep[]][] = [
      [`(a) ipmitool, ${o.workers} processes at a time`, a],
      ['(b) ipmitool, one process at a time', b],
      [`(c1) IpmiClient, fresh sessions, ${o.bmcs} at once`, c1],
      [`(c2) IpmiClient, held sessions, ${o.bmcs} at once`, c2],
    ];
    console.log(
      `\npower-status sweep of ${o.bmcs} BMCs (per BMC: (a)/(b) one ipmitool process; (c) from the start of the sweep to its answer)`,
    );
    console.log(
      table(
        ['scenario', 'sweep ms (median)', 'runs ms', 'per BMC p50 ms', 'per BMC p99 ms', 'wrong/failed', 'udp drops'],
        rows.map(([l, xs]) => [
          l,
          f(med(xs)),
          runs(xs),
          f(pooled(xs, 0.5), 2),
          f(pooled(xs, 0.99), 2),
          String(failures(xs)),
          String(drops(xs)),
        ]),
      ),
    );
    for (const [l, xs] of rows) {
      const e = xs.flatMap((s) => s.errors);
      if (e.length) console.log(`  ${l}: ${e.length} errors, first: ${e[0]}`);
    }

    const clean = c1.filter((s) => s.rcvbufErrors === 0);
    const lossy = c1.filter((s) => s.rcvbufErrors > 0);
    if (lossy.length) {
      console.log(
        `  (c1): ${lossy.length} of ${c1.length} sweeps saw UDP receive-buffer drops (${f(median(lossy.map((s) => s.totalMs)))} ms median: a lost answer ` +
          `waits for the 250 ms retransmission); sweeps without drops: ${clean.length ? `${f(median(clean.map((s) => s.totalMs)))} ms median of ${clean.length}` : 'none'}`,
      );
    }

    const A = med(a);
    const B = med(b);
    const C1 = med(c1);
    const C2 = med(c2);
    const p99c2 = pooled(c2, 0.99);
    const p99c1 = pooled(c1, 0.99);
    console.log(`\nratios (sweep time of the peer / ours; > 1 = we are faster):`);
    console.log(`  a/c2 ${f(A / C2)}   b/c2 ${f(B / C2)}   a/c1 ${f(A / C1)}   b/c1 ${f(B / C1)}`);
    const allOk = failures([...a, ...b, ...c1, ...c2]) === 0;
    const goal = (name: string, met: boolean, detail: string) =>
      console.log(`  ${met ? 'MET    ' : 'NOT MET'}  ${name}: ${detail}`);
    console.log('goals:');
    goal('held-session sweep >= 50x faster than (a)', A / C2 >= 50, `a/c2 = ${f(A / C2)}`);
    goal('held-session sweep >= 100x faster than (b)', B / C2 >= 100, `b/c2 = ${f(B / C2)}`);
    goal('fresh-session sweep >= 10x faster than (a)', A / C1 >= 10, `a/c1 = ${f(A / C1)}`);
    goal(
      'p99 per BMC < 20 ms (held sessions, c2)',
      p99c2 < 20,
      `${f(p99c2, 2)} ms (fresh sessions, c1: ${f(p99c1, 2)} ms)`,
    );
    if (!allOk) console.log('  (some answers were wrong or failed: see above; the ratios are not valid)');

    console.log(
      `\n${o.dead} of ${o.bmcs} BMCs stopped (ports closed), per-call deadline ${o.deadDeadline} ms; before: c1 ${f(C1)} ms, c2 ${f(C2)} ms`,
    );
    const healthy = (s: Sweep) => s.perBmcMs.filter((_, i) => !deadIdx.has(i));
    const dead = (s: Sweep) => s.perBmcMs.filter((_, i) => deadIdx.has(i));
    console.log(
      table(
        [
          'sweep',
          `${o.bmcs - o.dead} healthy: all done ms`,
          'healthy p99 ms',
          'healthy ok',
          `${o.dead} dead: last error ms`,
          'dead first error ms',
          'dead BmcUnreachable',
          'udp drops',
        ],
        deadRuns.map(({ label, s }) => [
          label,
          f(Math.max(...healthy(s))),
          f(quantile(healthy(s), 0.99), 2),
          `${s.ok.filter((x, i) => x && !deadIdx.has(i)).length}/${o.bmcs - o.dead}`,
          f(Math.max(...dead(s))),
          f(Math.min(...dead(s))),
          `${s.errorNames.filter((n, i) => deadIdx.has(i) && n === 'BmcUnreachable').length}/${o.dead}`,
          String(s.rcvbufErrors),
        ]),
      ),
    );
    for (const { label, s } of deadRuns) {
      const other = s.errors.filter((e) => !e.startsWith('BmcUnreachable'));
      const healthyErr = s.errorNames.filter((n, i) => n !== '' && !deadIdx.has(i)).length;
      if (other.length || healthyErr)
        console.log(`  ${label}: ${healthyErr} healthy BMCs failed; first other error: ${other[0] ?? s.errors[0]}`);
    }

    console.log(
      `\none BMC at a time: ipmitool one-shot vs our client (median of 10 ipmitool runs, 5 fresh logins, ${o.queries} held queries)`,
    );
    console.log(
      table(
        [
          'BMC',
          'ipmitool one-shot ms',
          'ours fresh login+status ms',
          'ours held status p50 ms',
          'held p99 ms',
          'held max ms',
          'one-shot/fresh',
          'errors',
        ],
        peers.map((p) => [
          p.label,
          f(median(p.ipmitoolMs), 2),
          f(median(p.freshMs), 2),
          f(median(p.heldMs), 3),
          f(quantile(p.heldMs, 0.99), 3),
          f(Math.max(...p.heldMs), 3),
          f(median(p.ipmitoolMs) / median(p.freshMs)),
          String(p.errors.length),
        ]),
      ),
    );
    for (const p of peers) if (p.errors.length) console.log(`  ${p.label}: first error: ${p.errors[0]}`);

    console.log(`RESULT ipmi ours=${f(C2)} peer=${f(A)} ratio=${f(A / C2)}`);
  } finally {
    await farm.stop();
  }
}

if (process.argv[2] === '--serve') {
  serve(Number(process.argv[3])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  process.once('exit', killChildren);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130)); // 'exit' kills the children
  const watchdog = setTimeout(() => {
    console.error(`bench:ipmi: still running after ${WATCHDOG_MS / 1000} s, giving up`);
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();
  // No process.exit() on success (it can cut off piped stdout); the unref'd timer ends a run
  // that a stray handle would keep alive.
  // Missing peers are installed first (apt may take minutes): the watchdog counts from then.
  ensurePeers()
    .then(() => {
      watchdog.refresh();
      return main();
    })
    .then(
      () => void setTimeout(() => process.exit(0), 5000).unref(),
      (e) => {
        console.error(e);
        process.exitCode = 1;
        killChildren();
        setTimeout(() => process.exit(1), 5000).unref();
      },
    );
}
