/**
 * bench:tftp: a 64 MiB file over TFTP: ours against tftpd-hpa and dnsmasq, with the same clients
 * and options in one run.
 *
 * dnsmasq cannot serve TFTP on any port but 69, so the whole bench runs in a network namespace
 * of its own (`bmbench-<random>`, loopback only, deleted at the end): this script creates it and
 * re-runs itself inside (`ip netns exec`), and there every server listens on port 69 of its own
 * loopback address (tftpd-hpa 127.0.0.2, dnsmasq 127.0.0.3, ours 127.0.0.4) and every client runs
 * in the same namespace. Server and client are pinned to the same CPU (taskset -c 0) for every
 * server: lock-step TFTP is dominated by cross-CPU wake-ups otherwise. The three servers run side
 * by side and the transfers are interleaved (rep by rep, server order rotated), so load that comes
 * and goes on the machine hits all three alike. Each pair: median of REPS transfers, sha256 checked.
 * Ends with exactly one line
 *   RESULT tftp ours=<worst pair, our ms> peer=<its tftpd-hpa ms> ratio=<min over pairs of tftpd-hpa ms / our ms>
 * (tftpd-hpa is the goal's reference; dnsmasq is shown in the table).
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensurePeers } from './peers';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const SIZE = 64 * 1024 * 1024;
const REPS = 5;
const CPU = '0';
const PORT = 69;
const NS_ENV = 'BM_BENCH_TFTP_NETNS';

type Kind = 'tftpd-hpa' | 'dnsmasq' | 'ours';
const SERVERS: { kind: Kind; address: string }[] = [
  { kind: 'tftpd-hpa', address: '127.0.0.2' },
  { kind: 'dnsmasq', address: '127.0.0.3' },
  { kind: 'ours', address: '127.0.0.4' },
];

const CLIENTS: { name: string; argv: (host: string, out: string) => [string, string[]] }[] = [
  { name: 'tftp-hpa (512)', argv: (h, o) => ['tftp', [h, String(PORT), '-m', 'binary', '-c', 'get', 'big.bin', o]] },
  {
    name: 'curl blksize 1468',
    argv: (h, o) => ['curl', ['-sS', '--tftp-blksize', '1468', '-o', o, `tftp://${h}:${PORT}/big.bin`]],
  },
  {
    name: 'atftp blksize 1468',
    argv: (h, o) => ['atftp', ['--get', '-r', 'big.bin', '-l', o, '--option', 'blksize 1468', h, String(PORT)]],
  },
  {
    name: 'atftp 1468 + windowsize 8',
    argv: (h, o) => [
      'atftp',
      ['--get', '-r', 'big.bin', '-l', o, '--option', 'blksize 1468', '--option', 'windowsize 8', h, String(PORT)],
    ],
  },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- outside: the namespace ---------------------------------------------------------------

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr?.toString().trim() || `exit ${r.status}`}`);
}

async function outside(): Promise<number> {
  const ns = `bmbench-${randomBytes(4).toString('hex')}`;
  ip(['netns', 'add', ns]);
  let child: ChildProcess | undefined;
  const cleanup = (): void => {
    child?.kill('SIGTERM');
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // dnsmasq binds only addresses an interface has: give lo one per server.
    for (const s of SERVERS) ip(['-n', ns, 'addr', 'add', `${s.address}/8`, 'dev', 'lo']);
    const argv = [
      process.execPath,
      '-r',
      'ts-node/register/transpile-only',
      '-r',
      'tsconfig-paths/register',
      __filename,
    ];
    child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, [NS_ENV]: ns },
    });
    return await new Promise<number>((resolve) => child!.once('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0))));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    child = undefined;
    cleanup();
  }
}

// --- inside: servers and clients ----------------------------------------------------------

function serverArgv(kind: Kind, address: string, root: string): string[] {
  switch (kind) {
    case 'tftpd-hpa':
      return ['/usr/sbin/in.tftpd', '-L', '-u', 'root', '-s', '-B', '65464', '-a', `${address}:${PORT}`, root];
    case 'dnsmasq':
      return [
        '/usr/sbin/dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        '--port=0',
        '--user=root',
        '--pid-file=',
        '--log-facility=/dev/null',
        '--quiet-tftp',
        '--enable-tftp',
        `--tftp-root=${root}`,
        `--listen-address=${address}`,
        '--bind-interfaces',
      ];
    case 'ours':
      return [
        process.execPath,
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        join(ROOT, 'scripts/bench/tftp-serve.ts'),
        root,
        String(PORT),
        address,
      ];
  }
}

async function listening(address: string): Promise<boolean> {
  const { stdout } = await run('ss', ['-H', '-u', '-l', '-n']);
  return stdout.split('\n').some((l) => l.includes(`${address}:${PORT} `));
}

async function startServer(kind: Kind, address: string, root: string): Promise<ChildProcess> {
  const argv = ['taskset', '-c', CPU, ...serverArgv(kind, address, root)];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await listening(address)) return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} did not start on ${address}:${PORT}: ${log.trim()}`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

async function inside(ns: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tftp-'));
  const children: ChildProcess[] = [];
  const onSignal = (): void => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const data = randomBytes(SIZE);
    const sha = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(dir, 'big.bin'), data);
    for (const s of SERVERS) children.push(await startServer(s.kind, s.address, dir));
    const times = new Map<string, number[]>();
    for (const c of CLIENTS) {
      for (let r = 0; r < REPS; r++) {
        for (let i = 0; i < SERVERS.length; i++) {
          const s = SERVERS[(i + r) % SERVERS.length];
          const out = join(dir, 'out.bin');
          const [cmd, args] = c.argv(s.address, out);
          const t = process.hrtime.bigint();
          await run('taskset', ['-c', CPU, cmd, ...args], { timeout: 120_000 });
          const ms = Number(process.hrtime.bigint() - t) / 1e6;
          if (createHash('sha256').update(readFileSync(out)).digest('hex') !== sha)
            throw new Error(`${s.kind}/${c.name}: sha256 mismatch`);
          rmSync(out);
          const key = `${c.name}|${s.kind}`;
          times.set(key, [...(times.get(key) ?? []), ms]);
        }
      }
      for (const s of SERVERS)
        process.stderr.write(
          `  ${s.kind.padEnd(9)} ${c.name.padEnd(28)} ${times
            .get(`${c.name}|${s.kind}`)!
            .map((x) => x.toFixed(0))
            .join(' ')} ms\n`,
        );
    }
    const median = (c: string, k: Kind): number => {
      const xs = [...times.get(`${c}|${k}`)!].sort((a, b) => a - b);
      return xs[Math.floor(xs.length / 2)];
    };
    console.log(
      `64 MiB over TFTP on loopback (netns ${ns}, port 69), every server and client pinned to CPU ${CPU} (median of ${REPS}, interleaved, sha256 checked)`,
    );
    console.log(
      `${'client, options'.padEnd(28)} ${'tftpd-hpa ms'.padStart(12)} ${'dnsmasq ms'.padStart(10)} ${'ours ms'.padStart(8)} ${'MiB/s ours'.padStart(10)} ${'vs hpa'.padStart(7)} ${'vs dnsmasq'.padStart(10)}`,
    );
    let worst = { ratio: Infinity, ours: 0, peer: 0 };
    for (const c of CLIENTS) {
      const hpa = median(c.name, 'tftpd-hpa');
      const dns = median(c.name, 'dnsmasq');
      const ours = median(c.name, 'ours');
      const ratio = hpa / ours;
      if (ratio < worst.ratio) worst = { ratio, ours, peer: hpa };
      console.log(
        `${c.name.padEnd(28)} ${hpa.toFixed(0).padStart(12)} ${dns.toFixed(0).padStart(10)} ${ours.toFixed(0).padStart(8)} ${(64 / (ours / 1000)).toFixed(0).padStart(10)} ${ratio.toFixed(2).padStart(7)} ${(dns / ours).toFixed(2).padStart(10)}`,
      );
    }
    console.log(
      `RESULT tftp ours=${worst.ours.toFixed(0)} peer=${worst.peer.toFixed(0)} ratio=${worst.ratio.toFixed(2)}`,
    );
  } finally {
    await Promise.all(children.map(stopServer));
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

const ns = process.env[NS_ENV];
(ns ? inside(ns).then(() => 0) : ensurePeers().then(outside)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
