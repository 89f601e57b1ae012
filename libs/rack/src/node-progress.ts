/**
 * Where a node is in its deploy, read from its timeline (bm_node_events) and its row: the state,
 * the latest phase, the bytes of the image written so far. Shared by `bmctl node watch` and the
 * rack view, so that both tell the same story.
 */
import type { NodeEventRow } from '@bm/db';
import type { BmTaskState } from '@bm/domain';

/** One node as the watch shows it. */
export interface NodeProgress {
  nodeId: number;
  state: BmTaskState;
  instance: string | null;
  /** The latest event of the current deploy: `<kind> <first word of its detail>`. */
  phase: string;
  /** Bytes of the image written so far, and of the whole image, while it is being written. */
  bytes: number | null;
  total: number | null;
  /** When the current deploy started (its `building` state event), if seen. */
  startedAt: Date | null;
  /** Milliseconds spent in each state of the deploy (the state events' times). */
  inState: Partial<Record<string, number>>;
}

/** True for the state event that starts a deploy (`building (associate)`, `building (rebuild)`). */
export function startsDeploy(e: Pick<NodeEventRow, 'kind' | 'detail'>): boolean {
  return e.kind === 'state' && e.detail.startsWith('building ');
}

/** The events of the node's current deploy: from its latest `building` state event on. */
export function currentDeploy<E extends Pick<NodeEventRow, 'kind' | 'detail'>>(events: readonly E[]): E[] {
  let from = 0;
  events.forEach((e, i) => {
    if (startsDeploy(e)) from = i;
  });
  return events.slice(from);
}

export function progressOf(
  nodeId: number,
  row: { task_state: BmTaskState; instance_uuid: string | null },
  all: NodeEventRow[],
  now: Date,
): NodeProgress {
  const events = currentDeploy(all);
  const last = events[events.length - 1];
  const states = events.filter((e) => e.kind === 'state');
  const inState: Partial<Record<string, number>> = {};
  states.forEach((e, i) => {
    const name = e.detail.replace(/ \(.*\)$/, '');
    const until = states[i + 1]?.at ?? now;
    inState[name] = (inState[name] ?? 0) + (until.getTime() - e.at.getTime());
  });
  const progress = [...events].reverse().find((e) => e.kind === 'deploy.progress');
  const writing = progress !== undefined && last?.kind === 'deploy.progress';
  const total = writing ? Number(/ of (\d+) bytes/.exec(progress.detail)?.[1] ?? NaN) : NaN;
  return {
    nodeId,
    state: row.task_state,
    instance: row.instance_uuid,
    phase: last ? `${last.kind} ${last.detail.split(/[ :]/)[0]}` : '',
    bytes: writing ? progress.bytes : null,
    total: Number.isFinite(total) ? total : null,
    startedAt: states[0]?.at ?? null,
    inState,
  };
}
