import { Inject, Injectable, Logger } from '@nestjs/common';
import { NetbootClient, PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { withLogContext } from '@bm/core';
import { NodeRepository } from '@bm/db';
import { InstanceNotFound, transition } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import { DeployWaits } from '../deploy-waits';
import type { InstanceRef } from '../instance-args';
import { InstanceNotifications } from './instance-notifications';

/**
 * BareMetalDriver.destroy (terminate_instance): power off, PXE files removed, then the node's
 * `destroyed` event (task_state deleted, association and deploy fields cleared). On failure the
 * node's `failed` event (task_state error) and it stays associated: nobody else can take a node
 * in an unknown state (ReconcileFailedNodes releases it once a power-off succeeds). An instance on
 * no node of this host: warned, done.
 */
@Injectable()
export class DestroyInstance {
  private readonly log = new Logger('destroy');

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly power: PowerClient,
    private readonly netboot: NetbootClient,
    private readonly waits: DeployWaits,
    private readonly notifications: InstanceNotifications,
  ) {}

  async run(instance: InstanceRef): Promise<{ node: string | null }> {
    const n = await this.nodes.instanceNode(instance.uuid, this.config.default.host).catch((e: unknown) => {
      if (e instanceof InstanceNotFound) return undefined;
      throw e;
    });
    if (!n) {
      this.log.warn(`destroy: instance ${instance.uuid} is on no node of this host`);
      return { node: null };
    }
    // Refused before anything is touched when the node's spawn has not begun.
    transition(n.task_state, 'destroyed');
    const work = async () => {
      try {
        await this.power.powerOff(n.id);
        await this.netboot.clean(n.id, instance.uuid);
        await this.nodes.transition(n.id, instance.uuid, 'destroyed');
        this.waits.wake(n.id); // a spawn still waiting on this node learns at once that it is gone
      } catch (e) {
        await this.nodes
          .transition(n.id, instance.uuid, 'failed')
          .catch((f: Error) => this.log.warn(`node ${n.id}: cannot mark it error: ${f.message}`));
        throw e;
      }
      return { node: n.uuid };
    };
    const ids = { node_id: n.id, node_uuid: n.uuid ?? undefined, instance_uuid: instance.uuid };
    return withLogContext(ids, () =>
      this.notifications.around('delete', instance, work, { node: n.uuid ?? undefined }),
    );
  }
}
