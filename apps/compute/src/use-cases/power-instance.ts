import { Inject, Injectable, Logger } from '@nestjs/common';
import { PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { withLogContext } from '@bm/core';
import { NodeRepository } from '@bm/db';
import { BM_CONFIG } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { InstanceNotifications } from './instance-notifications';

/** start_instance / stop_instance: the power service only; task_state is not touched (as Nova). */
@Injectable()
export class PowerInstance {
  private readonly log = new Logger('power');

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
      this.log.log(`instance ${instance.uuid}: powering ${on ? 'on' : 'off'} node ${n.id}`);
      await (on ? this.power.powerOn(n.id) : this.power.powerOff(n.id));
      return { node: uuid, power_state: on ? 'on' : 'off' };
    };
    const ids = { node_id: n.id, node_uuid: n.uuid ?? undefined, instance_uuid: instance.uuid };
    return withLogContext(ids, () =>
      this.notifications.around(on ? 'power_on' : 'power_off', instance, work, { node: uuid }),
    );
  }
}
