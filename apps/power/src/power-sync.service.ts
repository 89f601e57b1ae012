import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { inRequest, withLogContext } from '@bm/core';
import { Notifier } from '@bm/messaging';
import { NodeRepository } from '@bm/db';
import { type PowerDriver, PowerSync, type PowerState, type PowerTarget } from '@bm/power';
import { BM_CONFIG, Metrics } from '@bm/service';
import type { PowerTimeline } from './power-timeline';
import { POWER_DRIVER } from './tokens';

/**
 * Runs the power-state sync of this host's nodes every `power_sync_interval` seconds and emits
 * `baremetal.node.power_state.changed` when a node's state changes, which also goes on the node's
 * timeline (onPowerChange). At shutdown, once the last sweep is over, it closes the driver: the
 * native client sends Close Session to every BMC it holds a session with (BMCs have few session
 * slots; an abandoned one stays taken until the BMC times it out).
 */
@Injectable()
export class PowerSyncService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('power-sync');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    @Inject(PowerSync) private readonly sync: PowerSync,
    private readonly nodes: NodeRepository,
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(POWER_DRIVER) private readonly driver: PowerDriver,
    private readonly metrics: Metrics,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.baremetal.power_sync_interval * 1000;
    if (!every) return;
    const tick = () => {
      if (this.running) return; // a sweep never overlaps the previous one
      // Each sweep a request of its own; each node's lines carry its ids (onPowerChange).
      this.running = inRequest(() => this.sweepOnce()).finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, every);
    setImmediate(tick);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.driver.close().catch((e: Error) => this.log.warn(`closing the power driver: ${e.message}`));
  }

  async sweepOnce(): Promise<void> {
    try {
      const r = await this.sync.sweep(await this.nodes.powerTargets(this.config.default.host));
      this.metrics.power.syncDuration.observe(r.durationMs / 1000);
      if (r.failed || r.changed)
        this.log.log(
          `power sync: ${r.checked} checked, ${r.changed} changed, ${r.failed} failed, ${r.skipped} backing off (${r.durationMs} ms)`,
        );
    } catch (e) {
      this.log.warn(`power sync failed: ${(e as Error).message}`);
    }
  }
}

/** What the sync does when it sees a node's power state change: the node's timeline, then the notification. */
export function onPowerChange(notifier: Notifier, host: string, timeline: Pick<PowerTimeline, 'changed'>) {
  const notify = notifyChange(notifier, host);
  return (t: PowerTarget, from: PowerState | null, to: PowerState) =>
    withLogContext({ node_id: t.id, node_uuid: t.uuid }, () => {
      timeline.changed(t, from, to);
      return notify(t, from, to);
    });
}

/** The notification of a power change seen by the sync. */
export function notifyChange(notifier: Notifier, host: string) {
  return (t: PowerTarget, from: PowerState | null, to: PowerState) =>
    notifier
      .info('baremetal.node.power_state.changed', {
        node_id: t.id,
        node_uuid: t.uuid,
        host,
        old_power_state: from,
        power_state: to,
      })
      .catch(() => undefined);
}
