import { type DataSource, In } from 'typeorm';
import { BmNode, BmNodePower } from '@bm/db';
import { NodeNotFound, nodeKey } from '@bm/domain';
import type { PowerState, PowerTarget } from './driver';
import type { PowerRecord, PowerRecordStore } from './power-sync';

/** `bm_node_power` as the sync's record store. */
export class TypeormPowerRecordStore implements PowerRecordStore {
  constructor(private readonly ds: DataSource) {}

  async load(nodeIds: number[]): Promise<Map<number, PowerRecord>> {
    if (!nodeIds.length) return new Map();
    const rows = await this.ds.getRepository(BmNodePower).find({ where: { node_id: In(nodeIds) } });
    return new Map(
      rows.map((r) => [
        r.node_id,
        {
          nodeId: r.node_id,
          state: r.power_state as PowerState | null,
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

  async save(r: PowerRecord): Promise<void> {
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
}

function toTarget(n: BmNode): PowerTarget {
  return {
    id: n.id,
    uuid: n.uuid ?? '',
    pm_address: n.pm_address ?? '',
    pm_user: n.pm_user ?? '',
    pm_password: n.pm_password ?? '',
  };
}

/** Power targets (with credentials) read from nova_bm for each call; never cached, never logged. */
export class PowerTargets {
  constructor(private readonly ds: DataSource) {}

  /** A live node by id or UUID. */
  async get(ref: string | number): Promise<PowerTarget> {
    const text = String(ref).trim();
    const where = nodeKey(text);
    const n = where ? await this.ds.getRepository(BmNode).findOne({ where: { ...where, deleted: false } }) : null;
    if (!n || !n.pm_address) throw new NodeNotFound(text);
    return toTarget(n);
  }

  /** Every live node of a compute host that has a BMC. */
  async ofHost(serviceHost: string): Promise<PowerTarget[]> {
    const nodes = await this.ds
      .getRepository(BmNode)
      .find({ where: { service_host: serviceHost, deleted: false }, order: { id: 'ASC' } });
    return nodes.filter((n) => n.pm_address).map(toTarget);
  }
}
