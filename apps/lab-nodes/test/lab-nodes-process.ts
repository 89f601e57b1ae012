import { join } from 'node:path';
import { ROOT, requireBuilt } from '../../../test/support/bmctl';
import type { Netns } from '../../../test/support/netns';
import type { SimNodeStatus } from '../src/sim-node';

/** One JSON line of the built lab-nodes (src/main.ts). */
export type LabNodesEvent =
  | { event: 'ready'; nodes: { name: string; mac: string; bmc: string }[]; tgtd: { pid: number; controlPort: number } }
  | ({ event: 'phase' } & Omit<SimNodeStatus, 'history'>)
  | { event: 'log'; node: string; at: string; line: string }
  | { event: 'stopped' };

/** `node dist/apps/lab-nodes/main.js` in a namespace, its JSON lines collected. */
export interface LabNodesProcess {
  events: LabNodesEvent[];
  /** Everything it printed that was not a JSON line (errors). */
  other(): string;
  /** The ready line, once every BMC listens. */
  ready: Promise<Extract<LabNodesEvent, { event: 'ready' }>>;
  /** The phase lines of one node, oldest first. */
  phases(name: string): Extract<LabNodesEvent, { event: 'phase' }>[];
  /** The node's log lines, for failure messages. */
  log(name: string): string;
  /** SIGTERM; resolves with the exit code once it has stopped every node. */
  stop(): Promise<number | null>;
}

export function startLabNodes(ns: Netns, args: string[]): LabNodesProcess {
  requireBuilt('lab-nodes');
  const child = ns.spawn(process.execPath, [join(ROOT, 'dist/apps/lab-nodes/main.js'), ...args], { cwd: ROOT });
  const events: LabNodesEvent[] = [];
  let partial = '';
  let other = '';
  let readyLine: ((e: Extract<LabNodesEvent, { event: 'ready' }>) => void) | undefined;
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const ready = new Promise<Extract<LabNodesEvent, { event: 'ready' }>>((resolve, reject) => {
    readyLine = resolve;
    void exited.then((code) => reject(new Error(`lab-nodes exited ${code} before it was ready:\n${other}`)));
  });
  ready.catch(() => undefined);
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith('{')) {
        other += `${l}\n`;
        continue;
      }
      const e = JSON.parse(l) as LabNodesEvent;
      events.push(e);
      if (e.event === 'ready') readyLine?.(e);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (other += d.toString()));
  return {
    events,
    other: () => other,
    ready,
    phases: (name) =>
      events.filter((e): e is Extract<LabNodesEvent, { event: 'phase' }> => e.event === 'phase' && e.name === name),
    log: (name) =>
      events
        .filter((e): e is Extract<LabNodesEvent, { event: 'log' }> => e.event === 'log' && e.node === name)
        .map((e) => `${e.at} ${e.line}`)
        .join('\n'),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
