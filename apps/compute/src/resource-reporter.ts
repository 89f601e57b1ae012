import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { BmConfig } from '@bm/config';
import { type ReportedNode, type ResourceDict, availableResource } from '@bm/domain';
import { RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';

/** How often the node table is checked for changes between full reports (ms). */
const CHANGE_CHECK_MS = 2000;
/** The class path Nova reported as stats.baremetal_driver for the PXE node driver. */
export const PXE_DRIVER_CLASS = 'nova.virt.baremetal.pxe.PXE';

/** What the scheduler receives, as Nova's compute sent it (fanout cast on `scheduler_fanout`). */
export interface CapabilitiesReport {
  service_name: 'compute';
  host: string;
  capabilities: ResourceDict[];
}

/**
 * The compute host's resource reports: every `periodic_interval` seconds, and within seconds of a
 * node of this host being enrolled, changed or deleted (the node table is fingerprinted every
 * 2 s), each node's get_available_resource dict is upserted into `compute_nodes` (stale rows of
 * this host soft-deleted) and fanned out to the schedulers (`update_service_capabilities`).
 */
@Injectable()
export class ResourceReporter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('resources');
  private timers: NodeJS.Timeout[] = [];
  private fingerprint = '';
  private running?: Promise<void>;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @InjectDataSource() private readonly ds: DataSource,
    private readonly rpc: RpcClient,
  ) {}

  onApplicationBootstrap(): void {
    void this.report('start');
    this.timers.push(setInterval(() => void this.report('periodic'), this.config.default.periodic_interval * 1000));
    this.timers.push(setInterval(() => void this.reportIfChanged(), CHANGE_CHECK_MS));
  }

  async onApplicationShutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.running;
  }

  /** The resource dict of one node of this host, or undefined (Nova answers {} for an unknown node). */
  async forNode(nodename: string): Promise<ResourceDict | undefined> {
    return (await this.nodes()).find((r) => r.hypervisor_hostname === nodename);
  }

  /** Every node of this host as the scheduler sees it. */
  async nodes(): Promise<ResourceDict[]> {
    const rows: ReportedNode[] = await this.ds.query(
      `SELECT uuid, cpus, memory_mb, local_gb, cpu_arch, instance_uuid FROM bm_nodes
        WHERE deleted = false AND service_host = $1 AND uuid IS NOT NULL ORDER BY id`,
      [this.config.default.host],
    );
    const b = this.config.baremetal;
    return rows.map((n) =>
      availableResource(n, {
        extraSpecs: b.instance_type_extra_specs,
        hypervisorType: b.baremetal_type,
        driverClass: PXE_DRIVER_CLASS,
      }),
    );
  }

  /** One report now (reports never overlap; a caller arriving during one waits for it). */
  report(why: string): Promise<void> {
    this.running = (this.running ?? Promise.resolve()).then(() => this.reportNow(why));
    return this.running;
  }

  /** Count, newest id, last change and deletions of this host's nodes: any enrollment, edit or delete changes it. */
  private async nodeTableFingerprint(): Promise<string> {
    const [f] = await this.ds.query(
      `SELECT count(*)::text AS n, coalesce(max(id), 0)::text AS id, coalesce(max(updated_at)::text, '') AS at,
              coalesce(sum(CASE WHEN deleted THEN 1 ELSE 0 END), 0)::text AS gone
         FROM bm_nodes WHERE service_host = $1`,
      [this.config.default.host],
    );
    return `${f.n}/${f.id}/${f.at}/${f.gone}`;
  }

  private async reportIfChanged(): Promise<void> {
    try {
      if ((await this.nodeTableFingerprint()) !== this.fingerprint) await this.report('nodes changed');
    } catch (e) {
      this.log.warn(`cannot check the node table: ${(e as Error).message}`);
    }
  }

  private async reportNow(why: string): Promise<void> {
    const host = this.config.default.host;
    const started = Date.now();
    try {
      // Taken before the nodes are read: a change during the report triggers the next one.
      this.fingerprint = await this.nodeTableFingerprint();
      const dicts = await this.nodes();
      await this.ds.transaction(async (m) => {
        const now = new Date();
        // One statement for every node (columns as arrays, unnest into rows): one round trip
        // instead of one per node.
        const col = <K extends keyof ResourceDict>(k: K) => dicts.map((d) => d[k]);
        await m.query(
          `INSERT INTO compute_nodes (host, hypervisor_hostname, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used,
                                      free_ram_mb, free_disk_gb, running_vms, hypervisor_type, hypervisor_version, cpu_info,
                                      supported_instances, stats, created_at, updated_at, deleted)
           SELECT $1, u.name, u.vcpus, u.mem, u.disk, u.vcpus_used, u.mem_used, u.disk_used, u.mem - u.mem_used, u.disk - u.disk_used,
                  CASE WHEN u.vcpus_used > 0 THEN 1 ELSE 0 END, u.htype, u.hversion, u.cpu_info, u.supported, u.stats, $2, $2, false
             FROM unnest($3::varchar[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::varchar[], $11::int[],
                         $12::text[], $13::text[], $14::text[])
                  AS u(name, vcpus, mem, disk, vcpus_used, mem_used, disk_used, htype, hversion, cpu_info, supported, stats)
           ON CONFLICT (host, hypervisor_hostname) DO UPDATE SET
             vcpus = EXCLUDED.vcpus, memory_mb = EXCLUDED.memory_mb, local_gb = EXCLUDED.local_gb, vcpus_used = EXCLUDED.vcpus_used,
             memory_mb_used = EXCLUDED.memory_mb_used, local_gb_used = EXCLUDED.local_gb_used, free_ram_mb = EXCLUDED.free_ram_mb,
             free_disk_gb = EXCLUDED.free_disk_gb, running_vms = EXCLUDED.running_vms, hypervisor_type = EXCLUDED.hypervisor_type,
             hypervisor_version = EXCLUDED.hypervisor_version, cpu_info = EXCLUDED.cpu_info,
             supported_instances = EXCLUDED.supported_instances, stats = EXCLUDED.stats,
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
        // Nodes deleted or moved to another host stop being hypervisors here.
        await m.query(
          `UPDATE compute_nodes SET deleted = true, deleted_at = $2 WHERE host = $1 AND deleted = false AND NOT (hypervisor_hostname = ANY($3))`,
          [host, now, dicts.map((d) => d.hypervisor_hostname)],
        );
      });
      const report: CapabilitiesReport = { service_name: 'compute', host, capabilities: dicts };
      await this.rpc.fanoutCast('scheduler', 'update_service_capabilities', { ...report }, { version: '4.0' });
      this.log.log(`reported ${dicts.length} node(s) in ${Date.now() - started} ms (${why})`);
    } catch (e) {
      this.fingerprint = ''; // try again at the next check
      this.log.warn(`resource report failed (${why}): ${(e as Error).message}`);
    }
  }
}
