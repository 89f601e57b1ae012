import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { inRequest, withLogContext } from '@bm/core';
import { BmState } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import { Spawner } from '../spawn';

/**
 * The periodic task that takes back nodes left in `error` with their instance: a spawn whose
 * cleanup could not power the node off, a destroy that failed. Such a node may be powered on, so
 * it is not free; every `periodic_interval` seconds each one is powered off and netboot-cleaned
 * again, and released once the power-off succeeds (Spawner.reconcile).
 *
 * A node that entered `error` less than two RPC timeouts ago may still be in its own cleanup
 * (power off, then netboot clean, each bounded by rpc_response_timeout): it is left to it.
 */
@Injectable()
export class ReconcileFailedNodes implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('reconcile');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly spawner: Spawner,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return; // one pass at a time
      this.running = inRequest(() => this.run())
        .catch((e: Error) => this.log.warn(`cannot reconcile failed nodes: ${e.message}`))
        .finally(() => (this.running = undefined));
    }, this.config.default.periodic_interval * 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; resolves with how many nodes were released. */
  async run(): Promise<number> {
    const settledMs = 2 * this.config.default.rpc_response_timeout * 1000;
    const rows = await this.nodes.interruptedSpawns(this.config.default.host, [BmState.ERROR]);
    let released = 0;
    for (const r of rows.filter((n) => n.ago_ms >= settledMs)) {
      const ok = await withLogContext({ node_id: r.id, instance_uuid: r.instance_uuid }, () =>
        this.spawner.reconcile(r.id, r.instance_uuid).catch((e: Error) => {
          this.log.warn(`node ${r.id}: ${e.message}`);
          return false;
        }),
      );
      if (ok) released++;
      else this.log.warn(`node ${r.id} stays in error with instance ${r.instance_uuid}: not powered off yet`);
    }
    return released;
  }
}
