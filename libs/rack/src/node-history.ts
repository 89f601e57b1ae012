import type { NodeEventRow } from '@bm/db';
import { startsDeploy } from './node-progress';
import { POWER_CALL_OUTCOME } from './tile';

/** State events kept per node beside the deploy's first one (a long-lived node reboots often). */
const MAX_STATES = 32;
/** Other events kept: the latest few (the phase is the last one; the page asks for the rest). */
const MAX_OTHERS = 8;

/**
 * What the feed remembers of one node's timeline: just enough of its current deploy for
 * progressOf (its first state event, the later state events, the latest `deploy.progress` and
 * the latest events) and for its power (the latest power call), in timeline order (time, then id). Bounded, whatever the node goes through.
 */
export class NodeHistory {
  private events: NodeEventRow[] = [];
  private readonly ids = new Set<number>();

  /** Adds events (any order; an id already here is ignored); returns whether any was new. */
  add(events: readonly NodeEventRow[]): boolean {
    const fresh = events.filter((e) => !this.ids.has(e.id));
    if (!fresh.length) return false;
    const all = [...this.events, ...fresh].sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id);
    let from = 0;
    all.forEach((e, i) => {
      if (startsDeploy(e)) from = i;
    });
    this.events = prune(all.slice(from));
    this.ids.clear();
    for (const e of this.events) this.ids.add(e.id);
    // An event older than the kept ones (an earlier deploy) is remembered as seen all the same.
    for (const e of fresh) this.ids.add(e.id);
    return true;
  }

  /** The kept events, oldest first. */
  list(): NodeEventRow[] {
    return [...this.events];
  }
}

/** Keeps the first event, the latest MAX_STATES state events, the latest progress and the latest others. */
function prune(events: NodeEventRow[]): NodeEventRow[] {
  const keep = new Set<NodeEventRow>();
  if (events.length) keep.add(events[0]);
  const states = events.filter((e) => e.kind === 'state');
  for (const e of states.slice(-MAX_STATES)) keep.add(e);
  const progress = events.filter((e) => e.kind === 'deploy.progress');
  if (progress.length) keep.add(progress[progress.length - 1]);
  const power = events.filter((e) => POWER_CALL_OUTCOME[e.kind] !== undefined);
  if (power.length) keep.add(power[power.length - 1]);
  const others = events.filter((e) => e.kind !== 'state');
  for (const e of others.slice(-MAX_OTHERS)) keep.add(e);
  return events.filter((e) => keep.has(e));
}
