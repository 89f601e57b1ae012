/**
 * A node as the rack view draws it: one tile with its state, power, instance, maintenance and the
 * phase of its current deploy. A pure function of the node's row (bm_nodes with bm_node_power)
 * and the events of its current deploy, so that the feed can tell a changed tile by comparing.
 */
import type { NodeEventRow, RackNodeRow } from '@bm/db';
import { currentDeploy, progressOf } from './node-progress';

/** One tile; every field is JSON (times as ISO 8601 UTC), sent as is to the page. */
export interface RackTile {
  id: number;
  uuid: string | null;
  host: string | null;
  state: string | null;
  instance: string | null;
  instanceName: string | null;
  cpus: number | null;
  memoryMb: number | null;
  localGb: number | null;
  arch: string | null;
  power: string | null;
  powerError: string | null;
  maintenance: boolean | null;
  maintenanceReason: string | null;
  /** The latest event of the current deploy: `<kind> <first word of its detail>` (bmctl node watch's). */
  phase: string;
  /** While the image is being written: bytes so far, of `total`, and the percentage (0–100). */
  bytes: number | null;
  total: number | null;
  percent: number | null;
  /** When the current deploy started (its `building` event), and when its latest event happened. */
  startedAt: string | null;
  lastEventAt: string | null;
  /**
   * The states of the current deploy so far, each with when it began, oldest first (the state
   * events): the page shows them all, even one shorter than the feed's poll.
   */
  trail: { state: string; at: string }[];
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** The power state a successful power call leaves the node in (the power service's timeline kinds). */
export const POWER_CALL_OUTCOME: Readonly<Record<string, 'on' | 'off'>> = {
  'power.on': 'on',
  'power.off': 'off',
  'power.reboot': 'on',
};

/**
 * The node's power: the power sync's record, unless a power call succeeded after it was read
 * (the record is only renewed by the next sweep, a minute later by default).
 */
function powerOf(row: RackNodeRow, events: NodeEventRow[]): string | null {
  const call = [...events].reverse().find((e) => POWER_CALL_OUTCOME[e.kind] !== undefined);
  const failed = call !== undefined && / failed: /.test(call.detail);
  const newer = call !== undefined && (row.power_checked_at === null || call.at > row.power_checked_at);
  return call && newer && !failed ? POWER_CALL_OUTCOME[call.kind] : row.power_state;
}

/** The tile of `row`, `events` being (at least) those of its current deploy, oldest first. */
export function tileOf(row: RackNodeRow, events: NodeEventRow[]): RackTile {
  // The time only feeds progressOf's time-in-state, which a tile does not show.
  const p = progressOf(row.id, row, events, new Date(0));
  const percent =
    p.bytes !== null && p.total !== null && p.total > 0
      ? Math.min(100, Math.floor((p.bytes / p.total) * 1000) / 10)
      : null;
  return {
    id: row.id,
    uuid: row.uuid,
    host: row.service_host,
    state: row.task_state,
    instance: row.instance_uuid,
    instanceName: row.instance_name,
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    localGb: row.local_gb,
    arch: row.cpu_arch,
    power: powerOf(row, events),
    powerError: row.power_error,
    maintenance: row.maintenance,
    maintenanceReason: row.maintenance_reason,
    phase: p.phase,
    bytes: p.bytes,
    total: p.total,
    percent,
    startedAt: iso(p.startedAt),
    lastEventAt: iso(events[events.length - 1]?.at),
    trail: currentDeploy(events)
      .filter((e) => e.kind === 'state')
      .map((e) => ({ state: e.detail.replace(/ \(.*$/, ''), at: e.at.toISOString() })),
  };
}

/** A timeline event as the page gets it (the stream's `events`, the timeline API). */
export interface RackEvent {
  id: number;
  nodeId: number;
  at: string;
  source: string;
  kind: string;
  detail: string;
  durationMs: number | null;
  bytes: number | null;
  instanceUuid: string | null;
}

export function rackEventOf(e: NodeEventRow): RackEvent {
  return {
    id: e.id,
    nodeId: e.nodeId,
    at: e.at.toISOString(),
    source: e.source,
    kind: e.kind,
    detail: e.detail,
    durationMs: e.durationMs,
    bytes: e.bytes,
    instanceUuid: e.instanceUuid,
  };
}
