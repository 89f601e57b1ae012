import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  type Destination,
  type SchedulingRequest,
  type SelectDestinationsArgs,
  type SelectDestinationsResult,
  schedulingRequestOf,
  selectionOf,
} from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { NoValidHost } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import { HostStates } from '../host-states.service';

/** Where one instance goes: the node chosen (consumed) and the alternates (not). */
export interface InstancePlacement extends Destination {
  alternates: Destination[];
}

const destination = (n: { host: string; nodename: string }): Destination => ({
  host: n.host,
  nodename: n.nodename,
  limits: {},
});

/**
 * Nova's select_destinations: one (host, nodename) per instance, each node consumed whole.
 * NoValidHost says which filter stopped how many nodes, or that the request used up its attempts.
 * The nodes in maintenance are read from nova_bm for each request, so that a node the operator
 * has just taken out of service is skipped at once, not only once its compute host reports it
 * without resources.
 */
@Injectable()
export class SelectDestinations {
  private readonly log = new Logger('scheduler');

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly hosts: HostStates,
    @Inject(NodeRepository) private readonly nodes: Pick<NodeRepository, 'inMaintenance'>,
  ) {}

  /**
   * The RPC method, whichever form Nova sent (libs/contracts SelectDestinationsArgs): host dicts,
   * or with return_objects a list of Selection objects per instance, the chosen node first and,
   * with return_alternates too, up to scheduler_max_attempts - 1 alternates after it (Nova's
   * `[scheduler] max_attempts - 1`), so that Nova's conductor can retry a failed build there.
   */
  async answer(a: SelectDestinationsArgs): Promise<SelectDestinationsResult> {
    const alternates =
      a.return_objects && a.return_alternates ? Math.max(0, this.config.default.scheduler_max_attempts - 1) : 0;
    const placed = await this.run(schedulingRequestOf(a), alternates);
    if (!a.return_objects) return placed.map(destination);
    return placed.map((p) => [p, ...p.alternates].map(selectionOf));
  }

  /** The request placed: a node per instance, with up to `alternates` others each. */
  async run(req: SchedulingRequest, alternates = 0): Promise<InstancePlacement[]> {
    const max = this.config.default.scheduler_max_attempts;
    if (req.attempts >= max) throw new NoValidHost(`Exceeded max scheduling attempts ${max} for this request.`, []);
    const maintenance = await this.nodes.inMaintenance();
    const { chosen, alternates: others } = this.hosts.manager.place({ ...req, alternates, maintenance });
    const alts = others.map(destination);
    this.log.debug(
      `${req.flavor.name ?? 'flavor'} → ${chosen.map((n) => `${n.host}/${n.nodename}`).join(', ')}` +
        (alts.length ? ` (alternates ${alts.map((n) => `${n.host}/${n.nodename}`).join(', ')})` : ''),
    );
    return chosen.map((n) => ({ ...destination(n), alternates: alts }));
  }
}
