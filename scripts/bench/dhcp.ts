/**
 * bench:dhcp: DORA transactions per second of our DHCP server (libs/dhcp, via dhcp-serve.ts) and of
 * dnsmasq, in the same two-namespace setup, with the same load generator (Kea's perfdhcp, Debian
 * package kea-admin) and the same 10 000 distinct client MACs.
 *
 *   npm run bench:dhcp [-- --seconds 10 --reps 3 --macs 10000]     (root: it creates namespaces)
 *
 * Network: per server, two private namespaces bmbench-<random>-<d|o>-{srv,cli} joined by one veth
 * pair, 10.78.0.0/16 (server 10.78.0.1, perfdhcp 10.78.0.2): the two pairs are identical, so both
 * servers stay up and the measured runs alternate between them. Nothing touches the host's
 * interfaces; the namespaces are deleted on exit. perfdhcp acts as a relay (giaddr = its address,
 * replies come back unicast to giaddr:67), so no broadcast replies are involved. Pinning: the
 * server (ours or dnsmasq) on CPU 0, perfdhcp (single-thread mode) on CPU 1, for both servers.
 *
 * perfdhcp is open-loop: it starts `-r` DORA exchanges per second whatever the server does. Beyond
 * a server's capacity its queue overflows and completed exchanges collapse (far below capacity for
 * dnsmasq), so "-r very high" measures overload behaviour, not throughput. Per server:
 *   1. warm-up at a low rate (the lease table fills with the random MACs perfdhcp picks);
 *   2. search: short probes, doubling the rate then bisecting, for the highest rate at which at most
 *      LOSS_MAX of the exchanges are lost (DISCOVER sent without its ACK received);
 *   3. measure: `--reps` runs of `--seconds` at that rate, alternating ours/dnsmasq; DORA/s =
 *      completed 4-way exchanges / elapsed (perfdhcp's "Rate"), median of the runs (if the median
 *      run loses more than LOSS_MAX, that rate is lowered 5% and its runs repeated, at most 3 times);
 *   4. overload: one run at -r OVERLOAD_RATE, reported for information.
 * Ends with exactly one line: RESULT dhcp ours=<DORA/s> peer=<DORA/s> ratio=<ours/peer>.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ensurePeers } from './peers';

const ROOT = join(__dirname, '..', '..');
const SERVER_CPU = '0';
const CLIENT_CPU = '1';
const SERVER_IP = '10.78.0.1';
const CLIENT_IP = '10.78.0.2';
const PREFIX = 16;
const NETMASK = '255.255.0.0';
const RANGE = { first: '10.78.1.0', last: '10.78.255.254' };
const LEASE_S = 3600;
const MAC_BASE = '52:54:00:00:00:00';
const PERFDHCP = '/usr/sbin/perfdhcp';
const DNSMASQ = '/usr/sbin/dnsmasq';
const LOSS_MAX = 0.01;
const PROBE_S = 3;
const WARMUP = { rate: 1000, seconds: 10 };
const START_RATE = 1000;
const MAX_RATE = 64_000;
const OVERLOAD_RATE = 50_000;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}
const SECONDS = arg('seconds', 10);
const REPS = arg('reps', 3);
const MACS = arg('macs', 10_000);

type Kind = 'dnsmasq' | 'ours';

interface PerfRun {
  rate: number;
  seconds: number;
  /** perfdhcp's "Rate": completed DORA exchanges per second of the run. */
  dora: number;
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  /** Exchanges started but not completed (no OFFER or no ACK), over DISCOVERs sent. */
  loss: number;
}

const ns = `bmbench-${randomBytes(3).toString('hex')}`;
/** One identical pair of namespaces per server, so that both stay up and the measured runs can alternate. */
const pair = (kind: Kind) => ({ srv: `${ns}-${kind[0]}-srv`, cli: `${ns}-${kind[0]}-cli` });
const KINDS = ['dnsmasq', 'ours'] as const;
const children = new Set<ChildProcess>();
let nsCreated = false;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (!nsCreated) return;
  nsCreated = false;
  for (const n of KINDS.flatMap((k) => [pair(k).srv, pair(k).cli])) {
    try {
      ip('netns', 'del', n);
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

function setupNetwork(kind: Kind): void {
  nsCreated = true;
  const { srv, cli } = pair(kind);
  ip('netns', 'add', srv);
  ip('netns', 'add', cli);
  ip('-n', srv, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cli);
  for (const [n, addr] of [
    [srv, SERVER_IP],
    [cli, CLIENT_IP],
  ]) {
    ip('-n', n, 'link', 'set', 'lo', 'up');
    ip('-n', n, 'addr', 'add', `${addr}/${PREFIX}`, 'dev', 'eth0');
    ip('-n', n, 'link', 'set', 'eth0', 'up');
    ip('-n', n, 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'); // netboot-lab.md: broadcast replies
  }
}

function startServer(kind: Kind): Promise<{ proc: ChildProcess; output: () => string }> {
  const pin = ['ip', 'netns', 'exec', pair(kind).srv, 'taskset', '-c', SERVER_CPU];
  const argv =
    kind === 'ours'
      ? [
          ...pin,
          process.execPath,
          '-r',
          'ts-node/register/transpile-only',
          '-r',
          'tsconfig-paths/register',
          join(ROOT, 'scripts/bench/dhcp-serve.ts'),
        ]
      : [
          ...pin,
          DNSMASQ,
          '--keep-in-foreground',
          '--conf-file=/dev/null',
          '--port=0',
          '--user=root',
          '--pid-file=',
          '--interface=eth0',
          `--dhcp-range=${RANGE.first},${RANGE.last},${NETMASK},${LEASE_S}`,
          '--dhcp-authoritative',
          `--dhcp-lease-max=${MACS * 2}`,
          '--leasefile-ro',
          `--dhcp-boot=pxelinux.0,,${SERVER_IP}`,
          '--no-ping',
          '--quiet-dhcp',
          '--log-facility=/dev/null',
        ];
  const env = {
    ...process.env,
    ADDRESS: SERVER_IP,
    RANGE: `${RANGE.first},${RANGE.last}`,
    NETMASK,
    LEASE_S: String(LEASE_S),
    MAC_BASE,
    MACS: String(MACS),
  };
  const proc = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const output = () => out;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${kind} did not start:\n${out}`)), 20_000);
    proc.on('exit', (code) => reject(new Error(`${kind} exited (${code}) before it was ready:\n${out}`)));
    const poll = setInterval(() => {
      // dnsmasq prints nothing in the foreground with logging off: ready once it listens on 67.
      const ready = kind === 'ours' ? out.includes('READY') : udpListening(pair(kind).srv, 67);
      if (ready) {
        clearInterval(poll);
        clearTimeout(t);
        resolve({ proc, output });
      }
    }, 100);
    proc.on('exit', () => clearInterval(poll));
  });
}

function udpListening(netns: string, port: number): boolean {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Hlun', `sport = :${port}`]).toString();
  return out.trim().length > 0;
}

async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  children.delete(proc);
}

function perfdhcp(kind: Kind, rate: number, seconds: number): Promise<PerfRun> {
  const args = [
    'netns',
    'exec',
    pair(kind).cli,
    'taskset',
    '-c',
    CLIENT_CPU,
    PERFDHCP,
    '-4',
    '-g',
    'single',
    '-l',
    'eth0',
    '-b',
    `mac=${MAC_BASE}`,
    '-R',
    String(MACS),
    '-r',
    String(rate),
    '-p',
    String(seconds),
    SERVER_IP,
  ];
  return new Promise((resolve, reject) => {
    // Exit status 3 means "some exchanges were not completed": expected near and past capacity.
    const child = execFile(
      'ip',
      args,
      { timeout: (seconds + 30) * 1000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        children.delete(child);
        const code = (err as { code?: unknown } | null)?.code;
        if (err && code !== 3)
          return reject(new Error(`perfdhcp -r ${rate} failed (${String(code)}): ${stderr || err.message}`));
        try {
          resolve(parsePerf(stdout, rate, seconds));
        } catch (e) {
          reject(e);
        }
      },
    );
    children.add(child);
  });
}

function parsePerf(out: string, rate: number, seconds: number): PerfRun {
  const num = (re: RegExp, text: string) => {
    const m = re.exec(text);
    if (!m) throw new Error(`perfdhcp output has no ${re}:\n${out}`);
    return Number(m[1]);
  };
  const section = (name: string) => {
    const i = out.indexOf(`***Statistics for: ${name}***`);
    if (i < 0) throw new Error(`perfdhcp output has no ${name} statistics:\n${out}`);
    const next = out.indexOf('***Statistics for', i + 1);
    return out.slice(i, next < 0 ? undefined : next);
  };
  const doSec = section('DISCOVER-OFFER');
  const raSec = section('REQUEST-ACK');
  const discovers = num(/sent packets: (\d+)/, doSec);
  const acks = num(/received packets: (\d+)/, raSec);
  return {
    rate,
    seconds,
    dora: num(/Rate: ([\d.]+) 4-way exchanges\/second/, out),
    discovers,
    offers: num(/received packets: (\d+)/, doSec),
    requests: num(/sent packets: (\d+)/, raSec),
    acks,
    loss: discovers === 0 ? 1 : 1 - acks / discovers,
  };
}

const ok = (r: PerfRun) => r.loss <= LOSS_MAX;
/** perfdhcp did not start the exchanges it was asked for: the generator, not the server, was the limit. */
const generatorShort = (r: PerfRun) => r.discovers < 0.97 * r.rate * r.seconds;
const median = <T>(xs: T[], key: (x: T) => number): T =>
  [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)];
const fmt = (r: PerfRun) =>
  `-r ${String(r.rate).padStart(5)} ${r.seconds}s: ${r.dora.toFixed(0).padStart(6)} DORA/s, loss ${(100 * r.loss).toFixed(2)}%`;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Search {
  rate: number;
  probes: number;
  note?: string;
}

/** Warm-up, then the highest rate (multiple of 50) at which at most LOSS_MAX of the exchanges are lost. */
async function search(kind: Kind): Promise<Search> {
  log(`${kind}: warm-up`);
  log(`  ${fmt(await perfdhcp(kind, WARMUP.rate, WARMUP.seconds))}`);
  log(`${kind}: search (${PROBE_S} s probes, loss <= ${100 * LOSS_MAX}%)`);
  let probes = 0;
  let generatorLimited = false;
  const probe = async (rate: number) => {
    const r = await perfdhcp(kind, rate, PROBE_S);
    probes++;
    log(`  ${fmt(r)} ${ok(r) ? 'ok' : 'lost'}${generatorShort(r) ? ' (perfdhcp short of its rate)' : ''}`);
    if (ok(r) && generatorShort(r)) generatorLimited = true;
    return ok(r) && !generatorShort(r);
  };
  let lo = 0;
  let hi = 0;
  for (let rate = START_RATE; rate <= MAX_RATE; rate *= 2) {
    if (await probe(rate)) lo = rate;
    else {
      hi = rate;
      break;
    }
  }
  let note: string | undefined;
  if (hi === 0) note = `sustained the highest probe rate (${MAX_RATE}/s): the load generator may be the limit`;
  else {
    if (generatorLimited)
      note = 'perfdhcp fell short of the asked rate without losses: the load generator may be the limit';
    while (hi - lo > Math.max(50, lo * 0.03)) {
      const mid = Math.round((lo + hi) / 2 / 50) * 50;
      if (await probe(mid)) lo = mid;
      else hi = mid;
    }
  }
  if (lo === 0) throw new Error(`${kind} did not sustain even ${Math.round(hi)}/s`);
  return { rate: lo, probes, note };
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:dhcp needs root (network namespaces, port 67)');
  if (cpus().length < 2) throw new Error('bench:dhcp pins the server and perfdhcp to two different CPUs: needs 2');
  await ensurePeers();
  for (const f of [PERFDHCP, DNSMASQ]) execFileSync('test', ['-x', f]);
  const versions = {
    dnsmasq: execFileSync(DNSMASQ, ['--version'])
      .toString()
      .split('\n')[0]
      .replace(/\s+Copyright.*/, ''),
    perfdhcp: execFileSync(PERFDHCP, ['-v'])
      .toString()
      .trim()
      .replace(/^VERSION:\s*/, ''),
  };
  const loadBefore = loadavg();
  log(
    `load average before: ${loadBefore}${Number(loadBefore.split(' ')[0]) > 0.5 ? ' (other work on this machine: expect noise)' : ''}`,
  );
  const servers = new Map<Kind, Awaited<ReturnType<typeof startServer>>>();
  try {
    for (const kind of KINDS) {
      setupNetwork(kind);
      servers.set(kind, await startServer(kind));
    }
    const searches = new Map<Kind, Search>();
    for (const kind of KINDS) searches.set(kind, await search(kind));

    // The measured runs alternate between the servers, so that whatever else the machine does
    // during the bench hits both alike.
    const rates = new Map(KINDS.map((k) => [k, searches.get(k)!.rate]));
    const runs = new Map<Kind, PerfRun[]>();
    let pending: Kind[] = [...KINDS];
    for (let attempt = 0; attempt < 4 && pending.length > 0; attempt++) {
      log(`measure: ${pending.map((k) => `${k} at -r ${rates.get(k)}`).join(', ')}, alternating`);
      for (const k of pending) runs.set(k, []);
      for (let i = 0; i < REPS; i++) {
        for (const k of pending) {
          const r = await perfdhcp(k, rates.get(k)!, SECONDS);
          log(`  ${k.padEnd(8)} ${fmt(r)}`);
          runs.get(k)!.push(r);
        }
      }
      pending = pending.filter((k) => median(runs.get(k)!, (r) => r.dora).loss > LOSS_MAX);
      if (attempt < 3) for (const k of pending) rates.set(k, Math.round((rates.get(k)! * 0.95) / 50) * 50);
    }
    const overload = new Map<Kind, PerfRun>();
    log(`overload: -r ${OVERLOAD_RATE}`);
    for (const k of KINDS) {
      overload.set(k, await perfdhcp(k, OVERLOAD_RATE, SECONDS));
      log(`  ${k.padEnd(8)} ${fmt(overload.get(k)!)}`);
    }
    for (const [k, srv] of servers) {
      await stopServer(srv.proc);
      if (k === 'ours') log(`ours at exit: ${srv.output().trim().split('\n').pop()}`);
    }
    const loadAfter = loadavg();
    log(`load average after: ${loadAfter}`);

    const best = (k: Kind) => median(runs.get(k)!, (r) => r.dora);
    console.log(
      `DHCP DORA/s: perfdhcp ${versions.perfdhcp} (single thread, relay mode, ${MACS} MACs) -> server over a veth pair between two namespaces; ` +
        `server on CPU ${SERVER_CPU}, perfdhcp on CPU ${CLIENT_CPU}; node ${process.version}, ${versions.dnsmasq}; load average ${loadBefore} before, ${loadAfter} after`,
    );
    console.log(
      `rate: the highest with <= ${100 * LOSS_MAX}% exchanges lost (${PROBE_S} s probes); DORA/s: median of ${REPS} x ${SECONDS} s at it, ` +
        `runs alternating between the servers; overload: one ${SECONDS} s run at -r ${OVERLOAD_RATE}`,
    );
    console.log(
      `${'server'.padEnd(9)} ${'-r'.padStart(6)} ${'DORA/s'.padStart(8)} ${'runs'.padStart(20)} ${'loss'.padStart(7)} ${'overload DORA/s'.padStart(16)}`,
    );
    for (const k of KINDS) {
      const b = best(k);
      console.log(
        `${k.padEnd(9)} ${String(rates.get(k)).padStart(6)} ${b.dora.toFixed(0).padStart(8)} ${runs
          .get(k)!
          .map((x) => x.dora.toFixed(0))
          .join(' ')
          .padStart(20)} ` +
          `${(100 * b.loss).toFixed(2).padStart(6)}% ${overload.get(k)!.dora.toFixed(0).padStart(16)}`,
      );
      const note = searches.get(k)!.note;
      if (note) console.log(`  ${k}: ${note}`);
      if (b.loss > LOSS_MAX)
        console.log(`  ${k}: the median run still lost ${(100 * b.loss).toFixed(2)}% of its exchanges`);
    }
    const [peer, ours] = [best('dnsmasq').dora, best('ours').dora];
    console.log(`RESULT dhcp ours=${ours.toFixed(0)} peer=${peer.toFixed(0)} ratio=${(ours / peer).toFixed(2)}`);
  } finally {
    for (const c of children) await stopServer(c);
    cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  cleanup();
  process.exit(1);
});
