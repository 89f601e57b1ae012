import { Inject, Injectable } from '@nestjs/common';
import { PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { InstanceRebootFailure, transition } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { InstanceNotifications } from './instance-notifications';

/** BareMetalDriver.reboot (soft and hard alike): off, boot device PXE, on; task_state stays active. */
@Injectable()
export class RebootInstance {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly power: PowerClient,
    private readonly notifications: InstanceNotifications,
  ) {}

  async run(instance: InstanceRef): Promise<{ node: string; task_state: string }> {
    const n = await this.nodes.instanceNode(instance.uuid, this.config.default.host);
    const uuid = n.uuid ?? String(n.id);
    const to = transition(n.task_state, 'reboot'); // refused before the node is touched unless active
    const work = async () => {
      const r = await this.power.reboot(n.id);
      if (r.power_state !== 'on')
        throw new InstanceRebootFailure(`Node ${uuid} did not come back on after the reboot (${r.power_state})`);
      return { node: uuid, task_state: String(to) };
    };
    return this.notifications.around('reboot', instance, work, { node: uuid });
  }
}
