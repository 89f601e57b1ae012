import { Inject, Injectable } from '@nestjs/common';
import { type RebuildInstanceArgs, sentFlavor } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { NodeRepository } from '@bm/db';
import { InstanceEvacuateNotSupported, UUID_PATTERN } from '@bm/domain';
import { GlanceClient } from '@bm/images';
import { BM_CONFIG } from '@bm/service';
import { resolveSpawnImages } from '../boot-images';
import { deployDisk, instanceRef } from '../instance-args';
import { Spawner } from '../spawn';
import { InstanceNotifications } from './instance-notifications';

/**
 * rebuild_instance (Icehouse to 6.4): the deploy again on the instance's own node, preserving
 * ephemeral if asked. Nova sends the new image as `image_ref` and, as its manager does, we read
 * that image from the image service (its kernel_id / ramdisk_id; a missing image fails here,
 * before the node is touched); our own callers may send the `image` meta instead. The flavor is
 * the request spec's (6.x), else the instance's.
 */
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
    // An evacuation rebuilds the instance on another host: a node cannot move.
    if (a.recreate === true) throw new InstanceEvacuateNotSupported();
    const imageRef = typeof a.image_ref === 'string' && a.image_ref !== '' ? a.image_ref : undefined;
    const image: Record<string, unknown> | undefined =
      a.image ?? (imageRef && UUID_PATTERN.test(imageRef) ? await this.glance.show(imageRef) : undefined);
    const flavor = sentFlavor({ request_spec: a.request_spec });
    const { imageId, boot } = await resolveSpawnImages(
      { image, image_ref: imageRef, instance: instance.fields, flavor },
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
            disk: deployDisk(flavor, instance.fields),
          },
          a.preserve_ephemeral ?? false,
        ),
      { node, flavor },
    );
    return { node_id: rebuilt.id, task_state: rebuilt.task_state };
  }
}
