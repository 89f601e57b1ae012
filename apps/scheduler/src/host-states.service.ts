import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { BmConfig } from '@bm/config';
import { ComputeNode } from '@bm/db';
import { BaremetalHostManager, type NodeResourceReport } from '@bm/domain';
import { RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';

/**
 * The scheduler's host states: loaded from `compute_nodes` at start (so scheduling works before
 * the first report of the period), a fresh report asked of every compute host
 * (publish_service_capabilities, as Grizzly's scheduler did), then kept current by the compute
 * hosts' fanout reports; a node whose reports stop for three periods expires.
 */
@Injectable()
export class HostStates implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('host-states');
  readonly manager: BaremetalHostManager;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @InjectDataSource() private readonly ds: DataSource,
    private readonly rpc: RpcClient,
  ) {
    const period = config.default.periodic_interval * 1000;
    this.manager = new BaremetalHostManager({
      policy: config.default.scheduler_match_policy,
      staleAfterMs: 3 * period,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const period = this.config.default.periodic_interval * 1000;
    const cutoff = new Date(Date.now() - 3 * period);
    const rows = await this.ds
      .getRepository(ComputeNode)
      .createQueryBuilder('c')
      .where('c.deleted = false AND c.updated_at >= :cutoff', { cutoff })
      .getMany();
    for (const r of rows) this.manager.report({ ...r, stats: r.stats });
    this.log.log(`${rows.length} node(s) from compute_nodes; policy ${this.config.default.scheduler_match_policy}`);
    // As Grizzly's scheduler did at start: ask every compute host to report now.
    await this.rpc
      .fanoutCast('compute', 'publish_service_capabilities', {}, { version: '2.0' })
      .catch((e: Error) => this.log.warn(`cannot ask the compute hosts to report: ${e.message}`));
    this.timer = setInterval(() => {
      const n = this.manager.expireStale();
      if (n) this.log.warn(`${n} node(s) expired: no report for ${3 * this.config.default.periodic_interval} s`);
    }, period).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** A compute host's full report: its nodes now, and only those. */
  replaceHost(host: string, nodes: NodeResourceReport[]): void {
    const keep = new Set(nodes.map((n) => n.hypervisor_hostname));
    for (const s of this.manager.states())
      if (s.host === host && !keep.has(s.nodename)) this.manager.remove(host, s.nodename);
    for (const n of nodes) this.manager.report(n);
  }
}
