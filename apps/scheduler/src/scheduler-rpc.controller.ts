import { Inject, Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { BmConfig } from '@bm/config';
import { NoValidHost } from '@bm/domain';
import { OsloController } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { HostStates } from './host-states.service';
import { flavorOf, reportsOf, retryOf } from './request';
import { SelectDestinationsArgs, UpdateServiceCapabilitiesArgs } from './scheduler-rpc.dto';

/**
 * The scheduler RPC API (topic `scheduler`, version 4.x as Nova's): compute hosts report their
 * nodes (fanout cast), callers ask where to build (call).
 */
@OsloController()
export class SchedulerRpcController {
  private readonly log = new Logger('scheduler');

  constructor(
    private readonly hosts: HostStates,
    @Inject(BM_CONFIG) private readonly config: BmConfig,
  ) {}

  /** A compute host's resource report, one dict per node (get_available_resource). */
  @MessagePattern('update_service_capabilities')
  updateServiceCapabilities(@Payload() a: UpdateServiceCapabilitiesArgs): void {
    this.hosts.replaceHost(a.host, reportsOf(a.host, a.capabilities));
  }

  /**
   * Nova's select_destinations: one (host, nodename) per instance, each node consumed whole.
   * NoValidHost says which filter stopped how many nodes.
   */
  @MessagePattern('select_destinations')
  selectDestinations(@Payload() a: SelectDestinationsArgs): { host: string; nodename: string; limits: Record<string, never> }[] {
    const props = a.filter_properties ?? {};
    const flavor = flavorOf(a.request_spec, props);
    const retry = retryOf(props);
    const max = this.config.default.scheduler_max_attempts;
    if (retry.attempts > max) throw new NoValidHost(`Exceeded max scheduling attempts ${max} for this request.`, []);
    const count = typeof a.request_spec.num_instances === 'number' ? a.request_spec.num_instances : 1;
    const chosen = this.hosts.manager.select({ flavor, count, tried: retry.tried });
    this.log.log(`${flavor.name ?? 'flavor'} → ${chosen.map((n) => `${n.host}/${n.nodename}`).join(', ')}`);
    return chosen.map((n) => ({ host: n.host, nodename: n.nodename, limits: {} }));
  }
}
