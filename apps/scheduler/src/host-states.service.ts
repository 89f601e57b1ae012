import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ComputeClient, reportsOf } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { type Clock, inRequest } from '@bm/core';
import { ComputeNodeRepository } from '@bm/db';
import { BaremetalHostManager } from '@bm/domain';
import { senderRefusal } from '@bm/messaging';
import { BM_CONFIG, CLOCK } from '@bm/service';

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
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly computeNodes: ComputeNodeRepository,
    private readonly compute: ComputeClient,
  ) {
    const period = config.default.periodic_interval * 1000;
    const policy = config.default.scheduler_match_policy;
    this.manager = new BaremetalHostManager({ policy, staleAfterMs: 3 * period, clock });
  }

  async onApplicationBootstrap(): Promise<void> {
    const period = this.config.default.periodic_interval * 1000;
    const rows = await this.computeNodes.reportedSince(new Date(this.clock.now() - 3 * period));
    for (const r of rows) this.manager.report({ ...r, stats: r.stats });
    this.log.log(`${rows.length} node(s) from compute_nodes; policy ${this.config.default.scheduler_match_policy}`);
    // As Grizzly's scheduler did at start: ask every compute host to report now.
    await this.compute
      .publishServiceCapabilities()
      .catch((e: Error) => this.log.warn(`cannot ask the compute hosts to report: ${e.message}`));
    this.timer = setInterval(
      () =>
        inRequest(() => {
          const n = this.manager.expireStale();
          if (n) this.log.warn(`${n} node(s) expired: no report for ${3 * this.config.default.periodic_interval} s`);
        }),
      period,
    ).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * A compute host's full report (update_service_capabilities): its nodes now, and only those.
   * With `rpc_check_sender`, only from a broker user that speaks for the host (`sender`, the
   * message's AMQP user_id): anyone else could empty a real host or add a fake one. Returns
   * whether the report was taken.
   */
  replaceHost(host: string, capabilities: unknown[], sender?: string): boolean {
    const d = this.config.default;
    if (d.rpc_check_sender) {
      const refusal = senderRefusal(sender, host, { prefix: d.rpc_host_user_prefix, users: d.rpc_host_users });
      if (refusal) {
        this.log.warn(`update_service_capabilities for host ${host} refused: ${refusal}`);
        return false;
      }
    }
    const nodes = reportsOf(host, capabilities);
    const keep = new Set(nodes.map((n) => n.hypervisor_hostname));
    for (const s of this.manager.states())
      if (s.host === host && !keep.has(s.nodename)) this.manager.remove(host, s.nodename);
    for (const n of nodes) this.manager.report(n);
    return true;
  }
}
