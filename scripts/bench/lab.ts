/**
 * npm run bench:lab — the lab's main job at scale (issue #13), through scripts/lab.sh (every
 * service a built process, the real broker and database, real DHCP, TFTP, IPMI, callback, iSCSI):
 *
 *   run 1: 50 simulated nodes (apps/lab-nodes), no QEMU node, booted at once through the scheduler;
 *          wall time from the first `bmctl boot` to the last node active, each node's time in each
 *          state (p50 / p95 over the nodes), the peak resident memory (VmHWM) of every service;
 *   run 2: one QEMU node (TCG), booted to active: the same measures.
 * Each run also reports every process's CPU seconds (its waited-for children included), whose sum
 * over the machine's CPUs is a floor for the wall time of that work here (lab-nodes is the
 * simulated hardware: its share is not the product's).
 *
 * There is no other provisioning system to run beside ours here, so, as bench:scheduler does, the
 * "peer" of the RESULT line is the issue's goal: 50 nodes in 60 s (ratio = 60 / our seconds).
 * The QEMU run's goal (90 s) is printed beside it.
 *
 * Options: -- --nodes N (default 50) --deploy-workers N (default 4) --skip-qemu
 * Needs root (lab.sh makes network namespaces). Takes ~3 minutes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const GOAL_SIMS_S = 60;
const GOAL_QEMU_S = 90;
const STATES = ['building', 'prepared', 'deploying', 'deploy complete'] as const;

interface LabReport {
  sims: number;
  qemu: number;
  boots_ms: number;
  ok: boolean;
  nodes: { nodeId: number; state: string; inState: Partial<Record<string, number>> }[];
  peak_rss_kb: Record<string, number>;
  /** CPU seconds of each process and its waited-for children, at the end. */
  cpu_s: Record<string, number>;
  cpus: number;
}

/** The q-quantile (nearest rank) of `xs`. */
function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function runLab(args: string[]): LabReport {
  const dir = mkdtempSync(join(tmpdir(), 'bm-bench-lab-'));
  const file = join(dir, 'report.json');
  try {
    process.stdout.write(`--- bash scripts/lab.sh ${args.join(' ')}\n`);
    const r = spawnSync('bash', [join(ROOT, 'scripts/lab.sh'), ...args, '--report', file], {
      cwd: ROOT,
      // The lab's own lines go to our stderr: this script's stdout is the results.
      stdio: ['ignore', process.stderr, process.stderr],
    });
    let report: LabReport;
    try {
      report = JSON.parse(readFileSync(file, 'utf8')) as LabReport;
    } catch {
      throw new Error(`lab.sh ${args.join(' ')} wrote no report (exit ${r.status}); see .lab/logs/`);
    }
    if (r.status !== 0 || !report.ok)
      throw new Error(`lab.sh ${args.join(' ')} failed (exit ${r.status}); see .lab/logs/`);
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function describe(name: string, r: LabReport): string[] {
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const lines = [`${name}: ${r.nodes.length} node(s) active in ${s(r.boots_ms)} s (first bmctl boot to last active)`];
  lines.push(`  ${'state'.padEnd(16)} ${'p50 s'.padStart(7)} ${'p95 s'.padStart(7)} ${'max s'.padStart(7)}`);
  for (const state of [...STATES, 'total'] as const) {
    const xs = r.nodes.map((n) =>
      state === 'total' ? STATES.reduce((sum, st) => sum + (n.inState[st] ?? 0), 0) : (n.inState[state] ?? 0),
    );
    lines.push(
      `  ${state.padEnd(16)} ${s(quantile(xs, 0.5)).padStart(7)} ${s(quantile(xs, 0.95)).padStart(7)} ${s(Math.max(...xs)).padStart(7)}`,
    );
  }
  lines.push(
    '  peak memory (VmHWM): ' +
      Object.entries(r.peak_rss_kb)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([app, kb]) => `${app} ${(kb / 1024).toFixed(0)} MB`)
        .join(', '),
  );
  const cpu = Object.entries(r.cpu_s).sort(([, a], [, b]) => b - a);
  const total = cpu.reduce((sum, [, c]) => sum + c, 0);
  lines.push(
    `  CPU seconds (whole run, children included): ${cpu.map(([app, c]) => `${app} ${c.toFixed(1)}`).join(', ')}; ` +
      `total ${total.toFixed(1)} s on ${r.cpus} CPUs = at least ${(total / r.cpus).toFixed(1)} s of wall time`,
  );
  return lines;
}

function main(): void {
  const { values: a } = parseArgs({
    options: {
      nodes: { type: 'string', default: '50' },
      'deploy-workers': { type: 'string', default: '4' },
      'skip-qemu': { type: 'boolean', default: false },
    },
  });
  if (process.getuid?.() !== 0) throw new Error('bench:lab needs root (the lab makes network namespaces)');
  const sims = runLab([
    '--nodes',
    a.nodes!,
    '--qemu',
    '0',
    '--deploy-workers',
    a['deploy-workers']!,
    '--timeout',
    '300',
  ]);
  const qemu = a['skip-qemu'] ? undefined : runLab(['--nodes', '0', '--qemu', '1', '--timeout', '200']);
  const out = [
    ...describe(`simulated (${a.nodes} nodes, ${a['deploy-workers']} deploy workers)`, sims),
    ...(qemu ? describe(`QEMU (TCG), goal ${GOAL_QEMU_S} s`, qemu) : []),
  ];
  console.log(out.join('\n'));
  const ours = sims.boots_ms / 1000;
  console.log(`RESULT lab ours=${ours.toFixed(1)} peer=${GOAL_SIMS_S} ratio=${(GOAL_SIMS_S / ours).toFixed(2)}`);
}

try {
  main();
} catch (e) {
  console.error(`bench:lab: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
