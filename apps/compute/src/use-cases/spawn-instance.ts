import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  type BuildAndRunInstanceArgs,
  ComputeTaskClient,
  type RunInstanceArgs,
  type RunInstanceResult,
  SchedulerClient,
  isNovaRequestSpec,
  sentFlavor,
  sentImage,
} from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { withLogContext } from '@bm/core';
import { worthRescheduling } from '@bm/domain';
import { GlanceClient } from '@bm/images';
import { BM_CONFIG } from '@bm/service';
import { resolveSpawnImages } from '../boot-images';
import { type InstanceRef, deployDisk, instanceRef } from '../instance-args';
import { NovaInstanceState } from '../nova-instance-state';
import { Spawner } from '../spawn';
import { InstanceNotifications } from './instance-notifications';

/**
 * Nova's run_instance (build_and_run_instance is the same): the spawn of §2 of the seed, from the
 * atomic claim of the node to `active`, announced as compute.instance.create.*. The flavor and
 * the image come from the arguments as any Nova sends them (compute-nova.ts: the flavor beside
 * the instance or in the request spec, else the instance's own; Glance's image dict, else the
 * request spec's ImageMeta). When our scheduler sent it (filter_properties.retry names this node,
 * the request spec is its legacy dict) and the failure is the node's, not the request's, the
 * instance goes back to the scheduler for another node, as Nova's compute reschedules a failed
 * build. A build from Nova itself goes back, as nova-compute sends it, to Nova's conductor
 * (compute_task build_instances with the alternates Nova sent in host_list) when a conductor is
 * beside us (`[baremetal] nova_conductor`); otherwise the failure is logged and announced
 * (compute.instance.create.error).
 */
@Injectable()
export class SpawnInstance {
  private readonly log = new Logger('spawn');

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly spawner: Spawner,
    private readonly notifications: InstanceNotifications,
    private readonly scheduler: SchedulerClient,
    private readonly glance: GlanceClient,
    private readonly nova: NovaInstanceState,
    private readonly computeTask: ComputeTaskClient,
  ) {}

  /**
   * Whether a failed build goes back to Nova's conductor, as nova-compute sends it: Nova sent
   * the instance (an object, with a conductor beside us), alternates (`host_list`, possibly
   * empty: the conductor then fails the build, MaxRetriesExceeded) and retry information, and the
   * failure is the node's, not the request's.
   */
  private toConductor(a: BuildAndRunInstanceArgs, instance: InstanceRef, e: unknown): boolean {
    return (
      this.nova.applies(instance) && Array.isArray(a.host_list) && !!a.filter_properties?.retry && worthRescheduling(e)
    );
  }

  run(a: RunInstanceArgs | BuildAndRunInstanceArgs): Promise<RunInstanceResult> {
    const instance = instanceRef(a.instance);
    // Every line of the build names its node and instance.
    return withLogContext({ node_uuid: a.node, instance_uuid: instance.uuid }, () => this.build(a, instance));
  }

  private async build(a: RunInstanceArgs | BuildAndRunInstanceArgs, instance: InstanceRef): Promise<RunInstanceResult> {
    const toConductor = (e: unknown) => this.toConductor(a, instance, e);
    const flavor = sentFlavor(a);
    const image = sentImage(a);
    try {
      const node = await this.notifications.around(
        'create',
        instance,
        async () => {
          // Before the node is claimed: a missing image fails the build with nothing to undo.
          const { imageId, boot } = await resolveSpawnImages(
            { image, image_ref: a.image_ref, instance: instance.fields, flavor },
            this.config,
            (id) => this.glance.show(id),
          );
          return this.spawner.spawn({
            instanceUuid: instance.uuid,
            instanceName: instance.name,
            nodeUuid: a.node,
            imageId,
            images: boot,
            disk: deployDisk(flavor, instance.fields),
          });
        },
        { node: a.node, flavor, reschedules: toConductor },
      );
      return { node: a.node, node_id: node.id, task_state: node.task_state };
    } catch (e) {
      if (toConductor(e)) {
        const b = a as BuildAndRunInstanceArgs;
        this.log.warn(`build of ${instance.uuid} on ${a.node} failed (${(e as Error).name}): back to Nova's conductor`);
        await this.computeTask.buildInstances({
          instances: [this.nova.takeRescheduled(instance)!],
          image: a.image ?? {},
          filter_properties: {
            ...a.filter_properties,
            retry: { ...(a.filter_properties!.retry as object), exc_reason: (e as Error).message },
          },
          admin_password: a.admin_password ?? null,
          injected_files: a.injected_files ?? [],
          requested_networks: a.requested_networks ?? null,
          security_groups: b.security_groups ?? [],
          block_device_mapping: a.block_device_mapping ?? [],
          request_spec: a.request_spec ?? null,
          host_lists: [b.host_list as unknown[]],
        });
      } else if (
        a.filter_properties?.retry &&
        a.request_spec &&
        !isNovaRequestSpec(a.request_spec) &&
        worthRescheduling(e)
      ) {
        this.log.warn(`run_instance ${instance.uuid} on ${a.node} failed (${(e as Error).name}): rescheduling`);
        await this.scheduler.runInstance({ request_spec: a.request_spec, filter_properties: a.filter_properties });
      }
      throw e;
    }
  }
}
