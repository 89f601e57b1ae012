import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConductorClient, NovaServiceReporter } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { inRequest } from '@bm/core';
import { RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';

/**
 * With `[baremetal] nova_conductor`, this compute host is a nova-compute to Nova: its `services`
 * record is found or created through the Nova conductor at start and its report_count saved every
 * `report_interval` seconds (libs/contracts NovaServiceReporter), so Nova's service list shows the
 * host up. A report that fails (no conductor yet, a timeout) is logged and the next one tries again.
 */
@Injectable()
export class NovaServiceReport implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('nova-service');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private failing = false;
  readonly reporter?: NovaServiceReporter;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    rpc: RpcClient,
  ) {
    if (!config.baremetal.nova_conductor) return;
    // A report must end before the next is due: the call's deadline is the interval.
    const conductor = new ConductorClient(rpc, config.baremetal.report_interval);
    this.reporter = new NovaServiceReporter(conductor, config.default.host);
  }

  onApplicationBootstrap(): void {
    if (!this.reporter) return;
    const tick = () => {
      if (!this.running) this.running = inRequest(() => this.report()).finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.config.baremetal.report_interval * 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async report(): Promise<void> {
    try {
      const r = await this.reporter!.report();
      if (this.failing || r.report_count === 1)
        this.log.log(
          `Nova service record ${r.id} (${r.host} ${r.binary}): reporting every ${this.config.baremetal.report_interval} s`,
        );
      this.failing = false;
    } catch (e) {
      // One line per outage, not one per interval.
      if (!this.failing)
        this.log.warn(`cannot report to the Nova conductor: ${(e as Error).name}: ${(e as Error).message}`);
      this.failing = true;
    }
  }
}
