import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Destination, flavorOf, retryOf } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NoValidHost } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import { HostStates } from '../host-states.service';

/**
 * Nova's select_destinations: one (host, nodename) per instance, each node consumed whole.
 * NoValidHost says which filter stopped how many nodes, or that the request used up its attempts.
 */
@Injectable()
export class SelectDestinations {
  private readonly log = new Logger('scheduler');

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly hosts: HostStates,
  ) {}

  run(spec: Record<string, unknown>, props: Record<string, unknown>): Destination[] {
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
