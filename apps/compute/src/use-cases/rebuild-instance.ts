import { Inject, Injectable } from '@nestjs/common';
import type { RebuildInstanceArgs } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { GlanceClient } from '@bm/images';
import { BM_CONFIG } from '@bm/service';
import { resolveSpawnImages } from '../boot-images';
import { deployDisk, instanceRef } from '../instance-args';
import { Spawner } from '../spawn';
import { InstanceNotifications } from './instance-notifications';

/** Icehouse's rebuild_instance: the deploy again on the instance's own node, preserving ephemeral if asked. */
@Injectable()
export class RebuildInstance {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly spawner: Spawner,
    private readonly notifications: InstanceNotifications,
    private readonly glance: GlanceClient,
  ) {}

  async run(a: RebuildInstanceArgs): Promise<{ node_id: number; task_state: string | null }> {
    const instance = instanceRef(a.instance);
    const { imageId, boot } = await resolveSpawnImages(
      { image: a.image, image_ref: a.image_ref, instance: instance.fields },
      this.config,
      (id) => this.glance.show(id),
    );
    // The node's uuid for the payloads; the claim itself decides whether the rebuild may go on.
    const node = await this.nodes.instanceNode(instance.uuid, this.config.default.host).then(
      (n) => n.uuid,
      () => undefined,
    );
    const rebuilt = await this.notifications.around(
      'rebuild',
      instance,
      () =>
        this.spawner.rebuild(
          {
            instanceUuid: instance.uuid,
            instanceName: instance.name,
            imageId,
            images: boot,
            disk: deployDisk(undefined, instance.fields),
          },
          a.preserve_ephemeral ?? false,
        ),
      { node },
    );
    return { node_id: rebuilt.id, task_state: rebuilt.task_state };
  }
}
