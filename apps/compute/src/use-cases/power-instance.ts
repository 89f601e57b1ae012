import { Inject, Injectable } from '@nestjs/common';
import { PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { BM_CONFIG } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { InstanceNotifications } from './instance-notifications';

/** start_instance / stop_instance: the power service only; task_state is not touched (as Nova). */
@Injectable()
export class PowerInstance {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly power: PowerClient,
    private readonly notifications: InstanceNotifications,
  ) {}

  async run(instance: InstanceRef, on: boolean): Promise<{ node: string; power_state: string }> {
    const n = await this.nodes.instanceNode(instance.uuid, this.config.default.host);
    const uuid = n.uuid ?? String(n.id);
    const work = async () => {
      await (on ? this.power.powerOn(n.id) : this.power.powerOff(n.id));
      return { node: uuid, power_state: on ? 'on' : 'off' };
    };
    return this.notifications.around(on ? 'power_on' : 'power_off', instance, work, { node: uuid });
  }
}
