/**
 * `bmctl node watch`: nodes followed live through a deploy, from what the services write (the
 * node's row and its timeline), so it works for any node, real or simulated, from any host that
 * reaches the database. On a terminal the lines are redrawn in place; otherwise a line is printed
 * whenever a node's state or phase changes. Ends when every node reached the wanted state (or
 * failed), with a summary: the time each node spent in each state of the deploy.
 */
import { type Clock, NovaBmError } from '@bm/core';
import type { NodeEventRow } from '@bm/db';
import type { BmTaskState } from '@bm/domain';
import { type NodeProgress, progressOf } from '@bm/rack';

// Where a node is in its deploy: libs/rack, shared with the rack view.
export { type NodeProgress, progressOf };

/** The states a deploy goes through, in order: the summary's columns. */
export const DEPLOY_STATES = ['building', 'prepared', 'deploying', 'deploy complete'] as const;

/** States a watched node does not come back from on its own. */
const FAILED_STATES: readonly BmTaskState[] = ['error', 'deploy failed', 'deleted'];

export class WatchFailed extends NovaBmError {
  readonly name = 'WatchFailed';
  readonly kind = 'failed';
}

export class WatchTimedOut extends NovaBmError {
  readonly name = 'WatchTimedOut';
  readonly kind = 'timeout';
}

export interface WatchPorts {
  /** The node's row now (undefined: not there). */
  state(nodeId: number): Promise<{ task_state: BmTaskState; instance_uuid: string | null } | undefined>;
  timeline(nodeId: number): Promise<NodeEventRow[]>;
  clock: Clock;
  /** A terminal (redraw in place) or a log (one line per change). */
  tty: boolean;
  write(text: string): void;
}

const mib = (n: number) => (n / 1048576).toFixed(1);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One line per node: id, state, phase, bytes, elapsed. */
export function progressLine(p: NodeProgress, now: Date): string {
  const bytes = p.bytes !== null ? `  ${mib(p.bytes)}${p.total !== null ? ` of ${mib(p.total)}` : ''} MiB` : '';
  const elapsed = p.startedAt ? `  ${secs(now.getTime() - p.startedAt.getTime())}` : '';
  return `node ${String(p.nodeId).padEnd(4)} ${String(p.state ?? '-').padEnd(15)} ${p.phase}${bytes}${elapsed}`;
}

export class WatchNodes {
  constructor(private readonly p: WatchPorts) {}

  /**
   * Follows `nodeIds` until each is in `until` (resolves with their progress), one whose deploy
   * began after `since` (default: now) has failed (WatchFailed, once the others are done or failed
   * too), or `timeoutS` passed (WatchTimedOut).
   */
  async run(
    nodeIds: number[],
    o: { until: BmTaskState; timeoutS: number; pollMs?: number; since?: Date },
  ): Promise<NodeProgress[]> {
    const deadline = this.p.clock.now() + o.timeoutS * 1000;
    // A node still `deleted` from its last instance has not failed: its new deploy has not begun.
    const since = o.since ?? new Date(this.p.clock.now() - 1000);
    let shown: string[] = [];
    for (;;) {
      const now = new Date(this.p.clock.now());
      const all: NodeProgress[] = [];
      for (const id of nodeIds) {
        const row = await this.p.state(id);
        if (!row) throw new WatchFailed(`node ${id} is not there`);
        all.push(progressOf(id, row, await this.p.timeline(id), now));
      }
      const lines = all.map((p) => progressLine(p, now));
      if (this.p.tty) {
        // Back over the previous frame, then this one, each line cleared to its end.
        const up = shown.length ? `\x1b[${shown.length}F` : '';
        this.p.write(up + lines.map((l) => `\x1b[2K${l}\n`).join(''));
      } else {
        const key = (l: string) => l.replace(/ {2}[\d.]+ s$/, ''); // a change, not the clock
        lines.filter((l, i) => key(l) !== key(shown[i] ?? '')).forEach((l) => this.p.write(`${l}\n`));
      }
      shown = lines;
      const failed = all.filter(
        (p) => FAILED_STATES.includes(p.state) && p.state !== o.until && p.startedAt !== null && p.startedAt >= since,
      );
      const settled = all.every((p) => p.state === o.until || failed.includes(p));
      if (settled && failed.length)
        throw new WatchFailed(failed.map((p) => `node ${p.nodeId}: ${p.state} (${p.phase})`).join('; '));
      if (settled) return all;
      if (this.p.clock.now() > deadline)
        throw new WatchTimedOut(
          `not all ${o.until} after ${o.timeoutS} s: ${all
            .filter((p) => p.state !== o.until)
            .map((p) => `node ${p.nodeId} ${p.state}`)
            .join(', ')}`,
        );
      await this.p.clock.sleep(o.pollMs ?? 500);
    }
  }
}

/** The summary: each node's instance, state, time in each deploy state and in all. */
export function summaryRows(all: NodeProgress[]): string[][] {
  return all.map((p) => {
    const total = DEPLOY_STATES.reduce((sum, s) => sum + (p.inState[s] ?? 0), 0);
    return [
      String(p.nodeId),
      p.instance ?? '',
      p.state ?? '',
      ...DEPLOY_STATES.map((s) => (p.inState[s] !== undefined ? secs(p.inState[s]) : '')),
      secs(total),
    ];
  });
}
