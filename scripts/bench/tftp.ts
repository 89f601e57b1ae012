/**
 * bench:tftp: a 64 MiB file over TFTP on loopback, ours against tftpd-hpa, with the same clients
 * and options in one run. Server and client are pinned to the same CPU (taskset -c 0) for both:
 * lock-step TFTP is dominated by cross-CPU wake-ups otherwise (reference: netboot-lab.md).
 * Each pair: median of 3 transfers, sha256 checked. Ends with
 *   RESULT tftp ours=<worst our/peer pair, ms> peer=<its tftpd-hpa ms> ratio=<min over pairs of peer/ours>
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const SIZE = 64 * 1024 * 1024;
const REPS = 3;

const CLIENTS: { name: string; argv: (port: number, out: string) => [string, string[]] }[] = [
  { name: 'tftp-hpa (512)', argv: (p, o) => ['tftp', ['127.0.0.1', String(p), '-m', 'binary', '-c', 'get', 'big.bin', o]] },
  { name: 'curl blksize 1468', argv: (p, o) => ['curl', ['-sS', '--tftp-blksize', '1468', '-o', o, `tftp://127.0.0.1:${p}/big.bin`]] },
  { name: 'atftp blksize 1468', argv: (p, o) => ['atftp', ['--get', '-r', 'big.bin', '-l', o, '--option', 'blksize 1468', '127.0.0.1', String(p)]] },
  { name: 'atftp 1468 + windowsize 8', argv: (p, o) => ['atftp', ['--get', '-r', 'big.bin', '-l', o, '--option', 'blksize 1468', '--option', 'windowsize 8', '127.0.0.1', String(p)]] },
];

function startServer(kind: 'ours' | 'tftpd-hpa', root: string, port: number): Promise<ChildProcess> {
  const argv = kind === 'ours'
    ? ['taskset', '-c', '0', process.execPath, '-r', 'ts-node/register/transpile-only', join(ROOT, 'scripts/bench/tftp-serve.ts'), root, String(port)]
    : ['taskset', '-c', '0', '/usr/sbin/in.tftpd', '-L', '-u', 'root', '-s', '-B', '65464', '-a', `127.0.0.1:${port}`, root];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    if (kind === 'tftpd-hpa') return setTimeout(() => resolve(child), 300);
    const t = setTimeout(() => reject(new Error('our server did not start')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) {
        clearTimeout(t);
        resolve(child);
      }
    });
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tftp-'));
  try {
    const data = randomBytes(SIZE);
    const sha = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(dir, 'big.bin'), data);
    const rows: { client: string; server: string; ms: number }[] = [];
    for (const [i, kind] of (['tftpd-hpa', 'ours'] as const).entries()) {
      const port = 16969 + i;
      const srv = await startServer(kind, dir, port);
      try {
        for (const c of CLIENTS) {
          const times: number[] = [];
          for (let r = 0; r < REPS; r++) {
            const out = join(dir, `out-${r}`);
            const [cmd, args] = c.argv(port, out);
            const t = process.hrtime.bigint();
            await run('taskset', ['-c', '0', cmd, ...args], { timeout: 120_000 });
            times.push(Number(process.hrtime.bigint() - t) / 1e6);
            if (createHash('sha256').update(readFileSync(out)).digest('hex') !== sha) throw new Error(`${kind}/${c.name}: sha256 mismatch`);
            rmSync(out);
          }
          times.sort((a, b) => a - b);
          rows.push({ client: c.name, server: kind, ms: times[Math.floor(times.length / 2)] });
          process.stderr.write(`  ${kind.padEnd(9)} ${c.name.padEnd(28)} ${times.map((x) => x.toFixed(0)).join(' ')} ms\n`);
        }
      } finally {
        srv.kill('SIGTERM');
      }
    }
    console.log(`64 MiB over TFTP on loopback, server and client pinned to CPU 0 (median of ${REPS}, sha256 checked)`);
    console.log(`${'client, options'.padEnd(28)} ${'tftpd-hpa ms'.padStart(12)} ${'ours ms'.padStart(9)} ${'MiB/s ours'.padStart(10)} ${'ratio'.padStart(6)}`);
    let worst = { ratio: Infinity, ours: 0, peer: 0 };
    for (const c of CLIENTS) {
      const peer = rows.find((r) => r.client === c.name && r.server === 'tftpd-hpa')!.ms;
      const ours = rows.find((r) => r.client === c.name && r.server === 'ours')!.ms;
      const ratio = peer / ours;
      if (ratio < worst.ratio) worst = { ratio, ours, peer };
      console.log(`${c.name.padEnd(28)} ${peer.toFixed(0).padStart(12)} ${ours.toFixed(0).padStart(9)} ${(64 / (ours / 1000)).toFixed(0).padStart(10)} ${ratio.toFixed(2).padStart(6)}`);
    }
    console.log(`RESULT tftp ours=${worst.ours.toFixed(0)} peer=${worst.peer.toFixed(0)} ratio=${worst.ratio.toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
