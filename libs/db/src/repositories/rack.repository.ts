import type { DataSource } from 'typeorm';
import type { BmTaskState } from '@bm/domain';
import { NODE_EVENT_COLUMNS, type NodeEventRow, type RawNodeEvent, nodeEventRow } from './node-event.repository';

/** A live node as the rack view reads it: its row and its power record (bm_node_power). */
export interface RackNodeRow {
  id: number;
  uuid: string | null;
  service_host: string | null;
  instance_uuid: string | null;
  instance_name: string | null;
  task_state: BmTaskState;
  cpus: number | null;
  memory_mb: number | null;
  local_gb: number | null;
  cpu_arch: string | null;
  /** null: the database has no maintenance column yet (a schema older than 19). */
  maintenance: boolean | null;
  maintenance_reason: string | null;
  /** 'on', 'off', or null (never seen, or no record yet). */
  power_state: string | null;
  power_error: string | null;
  power_checked_at: Date | null;
}

/** Most events `eventsAfter` returns, and `latestEvents` per node. */
export const RACK_MAX_EVENTS = 10_000;

/**
 * What the rack view polls (libs/rack RackFeed's source): every live node with its power record,
 * and the timeline events (bm_node_events) by id. Read-only. Each poll is two indexed queries:
 * the nodes (a rack's few hundred rows at most) and the events past the last id seen.
 */
export class RackRepository {
  constructor(private readonly ds: DataSource) {}

  async nodes(): Promise<RackNodeRow[]> {
    // The maintenance columns (migration 19) read through the row's JSON: the same query works on
    // a database that does not have them yet (the rack may run beside an older schema).
    return this.ds.query(
      `SELECT n.id, n.uuid, n.service_host, n.instance_uuid, n.instance_name, n.task_state,
              n.cpus, n.memory_mb, n.local_gb, n.cpu_arch,
              (r.j ->> 'maintenance')::boolean AS maintenance, r.j ->> 'maintenance_reason' AS maintenance_reason,
              p.power_state, p.error AS power_error, p.checked_at AS power_checked_at
         FROM bm_nodes n
        CROSS JOIN LATERAL (SELECT to_jsonb(n) - 'pm_password' - 'deploy_key' AS j) r
         LEFT JOIN bm_node_power p ON p.node_id = n.id
        WHERE n.deleted = false
        ORDER BY n.id`,
    );
  }

  /** The highest event id (0 when there is none). */
  async lastEventId(): Promise<number> {
    const [row]: { id: string }[] = await this.ds.query(`SELECT coalesce(max(id), 0) AS id FROM bm_node_events`);
    return Number(row.id);
  }

  /** Each live node's latest `perNode` events (by time, then id), oldest first, node by node. */
  async latestEvents(perNode: number): Promise<NodeEventRow[]> {
    checkLimit(perNode);
    const rows: RawNodeEvent[] = await this.ds.query(
      `SELECT e.* FROM bm_nodes n
        CROSS JOIN LATERAL (
          SELECT ${NODE_EVENT_COLUMNS} FROM bm_node_events
           WHERE node_id = n.id ORDER BY at DESC, id DESC LIMIT $1) e
        WHERE n.deleted = false
        ORDER BY e.node_id, e.at, e.id`,
      [perNode],
    );
    return rows.map(nodeEventRow);
  }

  /** Events with an id above `after` except the ids in `skip`, by id, at most `limit`. */
  async eventsAfter(after: number, skip: readonly number[], limit: number): Promise<NodeEventRow[]> {
    checkLimit(limit);
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`after must be an id, not ${after}`);
    const rows: RawNodeEvent[] = await this.ds.query(
      `SELECT ${NODE_EVENT_COLUMNS} FROM bm_node_events
        WHERE id > $1 AND NOT (id = ANY($2::bigint[]))
        ORDER BY id LIMIT $3`,
      [after, skip, limit],
    );
    return rows.map(nodeEventRow);
  }
}

function checkLimit(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > RACK_MAX_EVENTS)
    throw new RangeError(`limit must be an integer from 1 to ${RACK_MAX_EVENTS}, not ${n}`);
}
