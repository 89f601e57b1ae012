import type { DataSource } from 'typeorm';
import { MAX_INT4, NOW_UTC, SqlParams } from './sql';

/** The services that write a node's timeline. */
export type NodeEventSource = 'compute' | 'power' | 'netboot' | 'deploy-helper' | 'bmctl';

/** One thing that happened to a node, as a service records it. */
export interface NodeEventInput {
  nodeId: number;
  source: NodeEventSource;
  /** Dotted: power.on, dhcp.ack, tftp.file, deploy.callback, deploy.step, state… (≤ 64 chars). */
  kind: string;
  /** One human line (line breaks are folded into spaces); never a password. */
  detail: string;
  durationMs?: number | null;
  bytes?: number | null;
  instanceUuid?: string | null;
  /** When it happened (default: the database's now, naive UTC). */
  at?: Date;
}

/** A stored event of a node's timeline. */
export interface NodeEventRow {
  id: number;
  nodeId: number;
  at: Date;
  source: string;
  kind: string;
  detail: string;
  durationMs: number | null;
  bytes: number | null;
  instanceUuid: string | null;
}

/** What `timeline` returns unless asked, and the most it returns. */
export const TIMELINE_DEFAULT_LIMIT = 200;
export const TIMELINE_MAX_LIMIT = 10_000;

const COLUMNS = 'id, node_id, at, source, kind, detail, duration_ms, bytes, instance_uuid';

interface RawEvent {
  id: string;
  node_id: number;
  at: Date;
  source: string;
  kind: string;
  detail: string;
  duration_ms: number | null;
  bytes: string | null;
  instance_uuid: string | null;
}

function toRow(r: RawEvent): NodeEventRow {
  return {
    id: Number(r.id),
    nodeId: r.node_id,
    at: r.at,
    source: r.source,
    kind: r.kind,
    detail: r.detail,
    durationMs: r.duration_ms,
    bytes: r.bytes === null ? null : Number(r.bytes),
    instanceUuid: r.instance_uuid,
  };
}

/** `detail` on one line. */
function oneLine(detail: string): string {
  return detail.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/**
 * `bm_node_events`: each node's timeline. Append-only; every write is one INSERT, and a node id
 * that names no node is refused by the foreign key.
 */
export class NodeEventRepository {
  constructor(private readonly ds: DataSource) {}

  /** Records one event; returns it as stored (id, at). */
  async record(e: NodeEventInput): Promise<NodeEventRow> {
    const [row] = await this.recordMany([e]);
    return row;
  }

  /** Records `events` in one statement, in order (ids ascending); events without `at` share one now. */
  async recordMany(events: readonly NodeEventInput[]): Promise<NodeEventRow[]> {
    if (!events.length) return [];
    const p = new SqlParams();
    const arrays = [
      `${p.add(events.map((e) => e.nodeId))}::integer[]`,
      `${p.add(events.map((e) => e.at ?? null))}::timestamp[]`,
      `${p.add(events.map((e) => e.source))}::varchar[]`,
      `${p.add(events.map((e) => e.kind))}::varchar[]`,
      `${p.add(events.map((e) => oneLine(e.detail)))}::text[]`,
      `${p.add(events.map((e) => e.durationMs ?? null))}::integer[]`,
      `${p.add(events.map((e) => e.bytes ?? null))}::bigint[]`,
      `${p.add(events.map((e) => e.instanceUuid ?? null))}::varchar[]`,
    ];
    const rows: RawEvent[] = await this.ds.query(
      `INSERT INTO bm_node_events (node_id, at, source, kind, detail, duration_ms, bytes, instance_uuid)
       SELECT node_id, coalesce(at, ${NOW_UTC}), source, kind, detail, duration_ms, bytes, instance_uuid
         FROM unnest(${arrays.join(', ')})
              WITH ORDINALITY AS e(node_id, at, source, kind, detail, duration_ms, bytes, instance_uuid, n)
        ORDER BY n
       RETURNING ${COLUMNS}`,
      p.values,
    );
    return rows.map(toRow).sort((a, b) => a.id - b.id);
  }

  /**
   * The node's timeline, oldest first (by time, then id): the latest `limit` events (default
   * 200, at most 10000) at or after `since`, as `journalctl --since … -n …` shows.
   */
  async timeline(nodeId: number, opts: { since?: Date; limit?: number } = {}): Promise<NodeEventRow[]> {
    const limit = opts.limit ?? TIMELINE_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > TIMELINE_MAX_LIMIT)
      throw new RangeError(`limit must be an integer from 1 to ${TIMELINE_MAX_LIMIT}, not ${limit}`);
    if (opts.since && Number.isNaN(opts.since.getTime())) throw new RangeError('since is not a valid time');
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > MAX_INT4) return [];
    const p = new SqlParams();
    const since = opts.since ? `AND at >= ${p.add(opts.since)}::timestamp` : '';
    const rows: RawEvent[] = await this.ds.query(
      `SELECT * FROM (
         SELECT ${COLUMNS} FROM bm_node_events
          WHERE node_id = ${p.add(nodeId)} ${since}
          ORDER BY at DESC, id DESC LIMIT ${p.add(limit)}
       ) latest ORDER BY at, id`,
      p.values,
    );
    return rows.map(toRow);
  }
}

// For the other readers of bm_node_events (RackRepository): the same columns, the same rows.
export { COLUMNS as NODE_EVENT_COLUMNS, toRow as nodeEventRow, type RawEvent as RawNodeEvent };
