import { Inject, Injectable } from '@nestjs/common';
import { PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { BM_CONFIG } from '@bm/service';
import type { InstanceRef } from '../instance-args';

/** Nova power_state codes get_info answers with. */
const POWER_STATE_CODE: Record<string, number> = { on: 1, off: 4 };
const NOSTATE = 0;

/** BareMetalDriver.get_info and list_instances: what this host's nodes carry, read only. */
@Injectable()
export class InstanceQueries {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly power: PowerClient,
  ) {}

  /** Nova power_state codes (1 RUNNING, 4 SHUTDOWN, 0 NOSTATE) and the node's size. */
  async info(instance: InstanceRef) {
    const n = await this.nodes.instanceNode(instance.uuid, this.config.default.host);
    const r = await this.power.getPowerState(n.id).catch(() => ({ power_state: 'unknown' }));
    const state = POWER_STATE_CODE[r.power_state] ?? NOSTATE;
    return { state, max_mem: n.memory_mb, mem: n.memory_mb, num_cpu: n.cpus, cpu_time: 0 };
  }

  /** The instance names on this host's nodes. */
  list(): Promise<string[]> {
    return this.nodes.instanceNames(this.config.default.host);
  }
}
