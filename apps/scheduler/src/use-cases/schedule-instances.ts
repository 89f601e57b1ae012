import { Injectable } from '@nestjs/common';
import {
  ComputeClient,
  type Destination,
  SCHEDULER,
  type SchedulerRunInstanceArgs,
  legacySchedulingRequest,
  retryOf,
} from '@bm/contracts';
import { InvalidParameterValue, NoValidHost } from '@bm/domain';
import { Notifier } from '@bm/messaging';
import { SelectDestinations } from './select-destinations';

/**
 * Nova's scheduler run_instance (cast): a node per instance (request_spec.instance_uuids, or
 * instance_properties.uuid), then run_instance cast to each node's compute host with the node
 * added to filter_properties.retry, so that a compute whose claim or deploy fails can send the
 * instance back here for another node (at most scheduler_max_attempts). Notified as Nova's
 * filter scheduler does: scheduler.run_instance.start and .end around the request (payload
 * `request_spec`), .scheduled per instance (`request_spec`, `weighted_host`, `instance_id`;
 * with `host` and `node`), and NoValidHost as scheduler.run_instance (priority ERROR) once per
 * request (`instance_id` the first instance, `instance_uuids` all of them, `state` error,
 * `method`, `reason`; and `exception`).
 */
/**
 * The properties of instance `i` of `count` in one request: Nova's API names each of several
 * `<name>-<n>` (multi_instance_display_name_template, `%(name)s-%(count)d`) before the request
 * spec, which carries the first instance's properties, reaches the scheduler; with no API in
 * front, the names are made here.
 */
export function named(base: Record<string, unknown>, i: number, count: number): Record<string, unknown> {
  if (count < 2) return base;
  const suffixed = (v: unknown) => (typeof v === 'string' && v ? `${v}-${i + 1}` : v);
  return { ...base, hostname: suffixed(base.hostname), display_name: suffixed(base.display_name) };
}

@Injectable()
export class ScheduleInstances {
  constructor(
    private readonly select: SelectDestinations,
    private readonly compute: ComputeClient,
    private readonly notifier: Notifier,
  ) {}

  async run(a: SchedulerRunInstanceArgs): Promise<void> {
    const spec = a.request_spec;
    const props = a.filter_properties ?? {};
    const base = (spec.instance_properties ?? {}) as Record<string, unknown>;
    const uuids = Array.isArray(spec.instance_uuids) ? (spec.instance_uuids as unknown[]) : [base.uuid];
    if (!uuids.length || uuids.some((u) => typeof u !== 'string')) {
      const message = 'must list the instances (or set instance_properties.uuid)';
      throw new InvalidParameterValue([{ field: 'request_spec.instance_uuids', message }]);
    }
    await this.notifier.info('scheduler.run_instance.start', { request_spec: spec });
    try {
      const chosen = await this.choose(spec, props, base, uuids as string[]);
      if (chosen)
        await Promise.all(chosen.map((d, i) => this.build(d, a, named(base, i, uuids.length), uuids[i] as string)));
    } finally {
      await this.notifier.info('scheduler.run_instance.end', { request_spec: spec });
    }
  }

  /** The nodes, or undefined after NoValidHost was notified for the request. */
  private async choose(
    spec: Record<string, unknown>,
    props: Record<string, unknown>,
    base: Record<string, unknown>,
    uuids: string[],
  ): Promise<Destination[] | undefined> {
    try {
      return await this.select.run({ ...legacySchedulingRequest(spec, props), count: uuids.length });
    } catch (e) {
      // One notification for the whole request (Nova sends one per instance, each with the whole
      // spec: a request for n instances cost n times its size on the broker). `instance_id` is
      // the first instance, as Nova's for a one-instance request; `instance_uuids` names them all,
      // once (the spec goes without its own copy of that list).
      const { instance_uuids: _all, ...specWithoutUuids } = spec;
      await this.notifier.error('scheduler.run_instance', {
        request_spec: specWithoutUuids,
        instance_properties: base,
        state: 'error',
        method: SCHEDULER.methods.runInstance,
        instance_id: uuids[0],
        instance_uuids: uuids,
        reason: (e as Error).message,
        exception: (e as Error).name,
      });
      if (e instanceof NoValidHost) return undefined;
      throw e;
    }
  }

  /** run_instance cast to the node's compute host, with the node added to the retry list. */
  private async build(d: Destination, a: SchedulerRunInstanceArgs, base: Record<string, unknown>, uuid: string) {
    const spec = a.request_spec;
    const props = a.filter_properties ?? {};
    const retry = retryOf(props);
    const filterProperties = {
      ...props,
      retry: { num_attempts: retry.attempts + 1, hosts: [...retry.tried, [d.host, d.nodename]] },
    };
    await this.compute.runInstance(d.host, {
      instance: { ...base, uuid },
      node: d.nodename,
      image: (spec.image ?? {}) as Record<string, unknown>,
      request_spec: { ...spec, instance_uuids: [uuid], num_instances: 1 },
      filter_properties: filterProperties,
    });
    const weighted = { host: d.host, nodename: d.nodename };
    await this.notifier.info('scheduler.run_instance.scheduled', {
      request_spec: spec,
      weighted_host: weighted,
      instance_id: uuid,
      host: d.host,
      node: d.nodename,
    });
  }
}
