import { type DataSource, MoreThanOrEqual } from 'typeorm';
import { HypervisorNotFound, type ResourceDict } from '@bm/domain';
import { ComputeNode } from '../entities/compute-node.entity';
import { MAX_INT4 } from './sql';

/**
 * `compute_nodes`: the last resource report of each node (one hypervisor per node), written by
 * the compute host that owns it, read by the scheduler at start and by bmctl.
 */
export class ComputeNodeRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * One full report of `host`, in one transaction: every dict upserted on (host,
   * hypervisor_hostname) in one statement (un-deleting a row that comes back), and the host's
   * other live rows soft-deleted (nodes deleted or moved away stop being hypervisors here).
   * `now` stamps created_at/updated_at/deleted_at.
   */
  async saveReport(host: string, dicts: readonly ResourceDict[], now: Date): Promise<void> {
    const col = <K extends keyof ResourceDict>(k: K) => dicts.map((d) => d[k]);
    await this.ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO compute_nodes (host, hypervisor_hostname, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used,
                                    local_gb_used, free_ram_mb, free_disk_gb, running_vms, hypervisor_type,
                                    hypervisor_version, cpu_info, supported_instances, stats, created_at, updated_at,
                                    deleted)
         SELECT $1, u.name, u.vcpus, u.mem, u.disk, u.vcpus_used, u.mem_used, u.disk_used, u.mem - u.mem_used,
                u.disk - u.disk_used, CASE WHEN u.vcpus_used > 0 THEN 1 ELSE 0 END, u.htype, u.hversion, u.cpu_info,
                u.supported, u.stats, $2, $2, false
           FROM unnest($3::varchar[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[],
                       $10::varchar[], $11::int[], $12::text[], $13::text[], $14::text[])
                AS u(name, vcpus, mem, disk, vcpus_used, mem_used, disk_used, htype, hversion, cpu_info, supported,
                     stats)
         ON CONFLICT (host, hypervisor_hostname) DO UPDATE SET
           vcpus = EXCLUDED.vcpus, memory_mb = EXCLUDED.memory_mb, local_gb = EXCLUDED.local_gb,
           vcpus_used = EXCLUDED.vcpus_used, memory_mb_used = EXCLUDED.memory_mb_used,
           local_gb_used = EXCLUDED.local_gb_used, free_ram_mb = EXCLUDED.free_ram_mb,
           free_disk_gb = EXCLUDED.free_disk_gb, running_vms = EXCLUDED.running_vms,
           hypervisor_type = EXCLUDED.hypervisor_type, hypervisor_version = EXCLUDED.hypervisor_version,
           cpu_info = EXCLUDED.cpu_info, supported_instances = EXCLUDED.supported_instances, stats = EXCLUDED.stats,
           updated_at = EXCLUDED.updated_at, deleted = false, deleted_at = NULL`,
        [
          host,
          now,
          col('hypervisor_hostname'),
          col('vcpus'),
          col('memory_mb'),
          col('local_gb'),
          col('vcpus_used'),
          col('memory_mb_used'),
          col('local_gb_used'),
          col('hypervisor_type'),
          col('hypervisor_version'),
          col('cpu_info'),
          col('supported_instances'),
          dicts.map((d) => JSON.stringify(d.stats)),
        ],
      );
      await m.query(
        `UPDATE compute_nodes SET deleted = true, deleted_at = $2
          WHERE host = $1 AND deleted = false AND NOT (hypervisor_hostname = ANY($3))`,
        [host, now, col('hypervisor_hostname')],
      );
    });
  }

  /** The live hypervisors (of one compute host if asked), by id. */
  live(filter: { host?: string } = {}): Promise<ComputeNode[]> {
    return this.ds.getRepository(ComputeNode).find({
      where: { deleted: false, ...(filter.host !== undefined ? { host: filter.host } : {}) },
      order: { id: 'ASC' },
    });
  }

  /**
   * One live hypervisor by id (all digits) or hypervisor_hostname (the node uuid); the newest
   * report when several hosts report the same node. HypervisorNotFound otherwise.
   */
  async get(ref: string): Promise<ComputeNode> {
    const repo = this.ds.getRepository(ComputeNode);
    let row: ComputeNode | null = null;
    if (/^\d+$/.test(ref)) {
      if (Number(ref) <= MAX_INT4) row = await repo.findOneBy({ id: Number(ref), deleted: false });
    } else {
      row = await repo.findOne({
        where: { hypervisor_hostname: ref, deleted: false },
        order: { updated_at: 'DESC', id: 'DESC' },
      });
    }
    if (!row) throw new HypervisorNotFound(ref);
    return row;
  }

  /** The live hypervisors reported at or after `cutoff` (what the scheduler loads at start), by id. */
  reportedSince(cutoff: Date): Promise<ComputeNode[]> {
    return this.ds.getRepository(ComputeNode).find({
      where: { deleted: false, updated_at: MoreThanOrEqual(cutoff) },
      order: { id: 'ASC' },
    });
  }
}
