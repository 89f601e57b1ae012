import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { type Clock, currentRequestId, dateOf, inRequest } from '@bm/core';
import { ComputeNodeRepository, NodeRepository } from '@bm/db';
import { type ResourceDict, availableResource } from '@bm/domain';
import { BM_CONFIG, CLOCK } from '@bm/service';

/** How often the node table is checked for changes between full reports (ms). */
const CHANGE_CHECK_MS = 2000;
/** The class path Nova reported as stats.baremetal_driver for the PXE node driver. */
export const PXE_DRIVER_CLASS = 'nova.virt.baremetal.pxe.PXE';

/**
 * The compute host's resource reports: every `periodic_interval` seconds, and within seconds of a
 * node of this host being enrolled, changed or deleted (the node table is fingerprinted every
 * 2 s), each node's get_available_resource dict is saved in `compute_nodes` (stale rows of this
 * host soft-deleted) and fanned out to the schedulers (`update_service_capabilities`).
 */
@Injectable()
export class ResourceReporter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('resources');
  private timers: NodeJS.Timeout[] = [];
  private fingerprint = '';
  private running?: Promise<void>;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly nodeRows: NodeRepository,
    private readonly computeNodes: ComputeNodeRepository,
    private readonly scheduler: SchedulerClient,
  ) {}

  onApplicationBootstrap(): void {
    void this.report('start');
    const period = this.config.default.periodic_interval * 1000;
    this.timers.push(setInterval(() => void this.report('periodic'), period));
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
    const rows = await this.nodeRows.resourceRows(this.config.default.host);
    const b = this.config.baremetal;
    const o = {
      extraSpecs: b.instance_type_extra_specs,
      hypervisorType: b.baremetal_type,
      driverClass: PXE_DRIVER_CLASS,
    };
    return rows.map((n) => availableResource(n, o));
  }

  /** One report now (reports never overlap; a caller arriving during one waits for it). */
  report(why: string): Promise<void> {
    // Part of the request that asked for it (a spawn), else a request of its own (the timer's).
    this.running = (this.running ?? Promise.resolve()).then(() =>
      inRequest(() => this.reportNow(why), currentRequestId()),
    );
    return this.running;
  }

  private async reportIfChanged(): Promise<void> {
    try {
      const now = await this.nodeRows.fingerprint(this.config.default.host);
      if (now !== this.fingerprint) await this.report('nodes changed');
    } catch (e) {
      this.log.warn(`cannot check the node table: ${(e as Error).message}`);
    }
  }

  private async reportNow(why: string): Promise<void> {
    const host = this.config.default.host;
    const started = this.clock.now();
    try {
      // Taken before the nodes are read: a change during the report triggers the next one.
      this.fingerprint = await this.nodeRows.fingerprint(host);
      const dicts = await this.nodes();
      await this.computeNodes.saveReport(host, dicts, dateOf(this.clock));
      await this.scheduler.updateServiceCapabilities(host, dicts);
      this.log.log(`reported ${dicts.length} node(s) in ${this.clock.now() - started} ms (${why})`);
    } catch (e) {
      this.fingerprint = ''; // try again at the next check
      this.log.warn(`resource report failed (${why}): ${(e as Error).message}`);
    }
  }
}
