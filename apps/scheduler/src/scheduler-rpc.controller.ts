import { Inject, Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { BmConfig } from '@bm/config';
import { InvalidParameterValue, NoValidHost } from '@bm/domain';
import { Notifier, OsloController, RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { HostStates } from './host-states.service';
import { flavorOf, reportsOf, retryOf } from './request';
import { SchedulerRunInstanceArgs, SelectDestinationsArgs, UpdateServiceCapabilitiesArgs } from './scheduler-rpc.dto';

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
    private readonly rpc: RpcClient,
    private readonly notifier: Notifier,
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
  selectDestinations(
    @Payload() a: SelectDestinationsArgs,
  ): { host: string; nodename: string; limits: Record<string, never> }[] {
    return this.select(a.request_spec, a.filter_properties ?? {});
  }

  /**
   * Nova's scheduler run_instance (cast): a node per instance (request_spec.instance_uuids, or
   * instance_properties.uuid), then run_instance cast to each node's compute host with the node
   * added to filter_properties.retry, so that a compute whose claim or deploy fails can send the
   * instance back here for another node (at most scheduler_max_attempts). Notified as Nova's
   * filter scheduler does: scheduler.run_instance.start and .end around the request (payload
   * `request_spec`), .scheduled per instance (`request_spec`, `weighted_host`, `instance_id`;
   * with `host` and `node`), and NoValidHost as scheduler.run_instance (priority ERROR) per
   * instance (`instance_id`, `state` error, `method`, `reason`; and `exception`).
   */
  @MessagePattern('run_instance')
  async runInstance(@Payload() a: SchedulerRunInstanceArgs): Promise<void> {
    const spec = a.request_spec;
    const props = a.filter_properties ?? {};
    const base = (spec.instance_properties ?? {}) as Record<string, unknown>;
    const uuids = Array.isArray(spec.instance_uuids) ? (spec.instance_uuids as unknown[]) : [base.uuid];
    if (!uuids.length || uuids.some((u) => typeof u !== 'string')) {
      throw new InvalidParameterValue([
        { field: 'request_spec.instance_uuids', message: 'must list the instances (or set instance_properties.uuid)' },
      ]);
    }
    await this.notifier.info('scheduler.run_instance.start', { request_spec: spec });
    let chosen: { host: string; nodename: string }[];
    try {
      chosen = this.select({ ...spec, num_instances: uuids.length }, props);
    } catch (e) {
      for (const uuid of uuids) {
        await this.notifier.error('scheduler.run_instance', {
          request_spec: spec,
          instance_properties: base,
          instance_id: uuid,
          state: 'error',
          method: 'run_instance',
          reason: (e as Error).message,
          exception: (e as Error).name,
        });
      }
      await this.notifier.info('scheduler.run_instance.end', { request_spec: spec });
      if (e instanceof NoValidHost) return;
      throw e;
    }
    const retry = retryOf(props);
    await Promise.all(
      chosen.map(async (d, i) => {
        const filterProperties = {
          ...props,
          retry: { num_attempts: retry.attempts + 1, hosts: [...retry.tried, [d.host, d.nodename]] },
        };
        const instance = { ...base, uuid: uuids[i] };
        await this.rpc.cast(
          { topic: 'compute', server: d.host },
          'run_instance',
          {
            instance,
            node: d.nodename,
            image: spec.image ?? {},
            request_spec: { ...spec, instance_uuids: [uuids[i]], num_instances: 1 },
            filter_properties: filterProperties,
          },
          { version: '6.0' },
        );
        await this.notifier.info('scheduler.run_instance.scheduled', {
          request_spec: spec,
          weighted_host: { host: d.host, nodename: d.nodename },
          instance_id: uuids[i],
          host: d.host,
          node: d.nodename,
        });
      }),
    );
    await this.notifier.info('scheduler.run_instance.end', { request_spec: spec });
  }

  private select(spec: Record<string, unknown>, props: Record<string, unknown>) {
    const flavor = flavorOf(spec, props);
    const retry = retryOf(props);
    const max = this.config.default.scheduler_max_attempts;
    if (retry.attempts >= max) throw new NoValidHost(`Exceeded max scheduling attempts ${max} for this request.`, []);
    const count = typeof spec.num_instances === 'number' ? spec.num_instances : 1;
    const chosen = this.hosts.manager.select({ flavor, count, tried: retry.tried });
    this.log.debug(`${flavor.name ?? 'flavor'} → ${chosen.map((n) => `${n.host}/${n.nodename}`).join(', ')}`);
    return chosen.map((n) => ({ host: n.host, nodename: n.nodename, limits: {} }));
  }
}
