import { type DataSource, In } from 'typeorm';
import type { PowerRecord } from '@bm/power';
import { BmNodePower } from '../entities/bm-node-power.entity';

/** What the power sync knows of one node's power (libs/power's PowerRecord). */
export type PowerRecordRow = PowerRecord;

/** `bm_node_power`: the power sync's record of each node, one row per node. */
export class PowerRecordRepository {
  constructor(private readonly ds: DataSource) {}

  /** The records of `nodeIds` that exist, keyed by node id. */
  async load(nodeIds: readonly number[]): Promise<Map<number, PowerRecordRow>> {
    if (!nodeIds.length) return new Map();
    const rows = await this.ds.getRepository(BmNodePower).find({ where: { node_id: In([...nodeIds]) } });
    return new Map(
      rows.map((r) => [
        r.node_id,
        {
          nodeId: r.node_id,
          state: r.power_state as PowerRecordRow['state'],
          checkedAt: r.checked_at,
          latencyMs: r.latency_ms,
          error: r.error,
          failures: r.failures,
          nextCheckAt: r.next_check_at,
          changedAt: r.changed_at,
        },
      ]),
    );
  }

  /** Creates or replaces the record of `r.nodeId`. */
  async save(r: PowerRecordRow): Promise<void> {
    await this.ds.getRepository(BmNodePower).upsert(
      {
        node_id: r.nodeId,
        power_state: r.state,
        checked_at: r.checkedAt,
        latency_ms: r.latencyMs,
        error: r.error,
        failures: r.failures,
        next_check_at: r.nextCheckAt,
        changed_at: r.changedAt,
      },
      ['node_id'],
    );
  }

  /**
   * What a power call just read or made (`on`/`off` at `at`): the record's state, check time and
   * change time follow, its error and failure count are cleared, and its next sync stays as it
   * was. Without it `node list` and the rack view showed the state of the last sync (up to
   * `power_sync_interval` old) after a commanded change, and the sync then announced a change
   * that nobody made out of band.
   */
  async observed(nodeId: number, state: 'on' | 'off', at: Date): Promise<void> {
    await this.ds.query(
      `INSERT INTO bm_node_power (node_id, power_state, checked_at, latency_ms, error, failures, next_check_at, changed_at)
       VALUES ($1, $2, $3, NULL, NULL, 0, $3, $3)
       ON CONFLICT (node_id) DO UPDATE SET
         power_state = EXCLUDED.power_state,
         checked_at = EXCLUDED.checked_at,
         error = NULL,
         failures = 0,
         changed_at = CASE WHEN bm_node_power.power_state IS DISTINCT FROM EXCLUDED.power_state
                           THEN EXCLUDED.changed_at ELSE bm_node_power.changed_at END`,
      [nodeId, state, at],
    );
  }
}
