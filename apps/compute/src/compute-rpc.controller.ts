import { Inject, Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { BmConfig } from '@bm/config';
import { DEPLOY_EVENT, DeployStateChangedArgs } from '@bm/domain';
import { EnrollmentService } from '@bm/enrollment';
import { OsloController, RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { GetAvailableResourceArgs, InstanceArgs, RebuildInstanceArgs, RunInstanceArgs } from './compute-rpc.dto';
import { InstancesService, instanceRef, spawnImages } from './instances.service';
import { ResourceReporter } from './resource-reporter';

/**
 * The compute RPC API (topic `compute`, `compute.<host>`). The node inventory and resources so far;
 * the instance methods (run_instance, terminate_instance, …) arrive with the spawn work.
 */
@OsloController()
export class ComputeRpcController {
  constructor(
    private readonly enrollment: EnrollmentService,
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly resources: ResourceReporter,
    private readonly instances: InstancesService,
    private readonly rpc: RpcClient,
  ) {}

  private readonly log = new Logger('compute');

  /** BareMetalDriver.get_available_nodes: the uuid of every node this host owns, free or busy. */
  @MessagePattern('get_available_nodes')
  async getAvailableNodes(): Promise<string[]> {
    const nodes = await this.enrollment.listNodes({ serviceHost: this.config.default.host });
    return nodes.map((n) => n.uuid!);
  }

  /** BareMetalDriver.get_available_resource(nodename): the node's resource dict; {} for a node not on this host. */
  @MessagePattern('get_available_resource')
  async getAvailableResource(@Payload() a: GetAvailableResourceArgs) {
    return (await this.resources.forNode(a.nodename)) ?? {};
  }

  /**
   * Nova's run_instance (cast by the scheduler; build_and_run_instance is the same): the spawn of
   * §2 of the seed, from the atomic claim of the node to `active`. As a call it answers once the
   * node is active (call-monitor heartbeats keep a patient caller waiting); a failure comes back
   * as the error, after the node was cleaned up and released.
   */
  @MessagePattern('run_instance')
  async runInstance(@Payload() a: RunInstanceArgs) {
    const instance = instanceRef(a.instance);
    const images = spawnImages(a.image, this.config);
    try {
      const node = await this.instances.spawn(
        instance,
        a.node,
        images,
        a.instance_type ?? a.flavor ?? a.request_spec?.instance_type,
      );
      return { node: a.node, node_id: node.id, task_state: node.task_state };
    } catch (e) {
      // Sent by the scheduler (filter_properties.retry names this node): give the instance back
      // for another node, as Nova's compute reschedules a failed build (not a deleted instance).
      const final = ['InstanceNotFound', 'InvalidParameterValue', 'InvalidRpcArguments'].includes((e as Error).name);
      if (a.filter_properties?.retry && a.request_spec && !final) {
        this.log.warn(`run_instance ${instance.uuid} on ${a.node} failed (${(e as Error).name}): rescheduling`);
        await this.rpc.cast(
          { topic: 'scheduler' },
          'run_instance',
          { request_spec: a.request_spec, filter_properties: a.filter_properties },
          { version: '4.0' },
        );
      }
      throw e;
    }
  }

  @MessagePattern('build_and_run_instance')
  buildAndRunInstance(@Payload() a: RunInstanceArgs) {
    return this.runInstance(a);
  }

  @MessagePattern('terminate_instance')
  terminateInstance(@Payload() a: InstanceArgs) {
    return this.instances.destroy(instanceRef(a.instance));
  }

  @MessagePattern('reboot_instance')
  rebootInstance(@Payload() a: InstanceArgs) {
    return this.instances.reboot(instanceRef(a.instance));
  }

  @MessagePattern('start_instance')
  startInstance(@Payload() a: InstanceArgs) {
    return this.instances.power(instanceRef(a.instance), true);
  }

  @MessagePattern('stop_instance')
  stopInstance(@Payload() a: InstanceArgs) {
    return this.instances.power(instanceRef(a.instance), false);
  }

  @MessagePattern('get_info')
  getInfo(@Payload() a: InstanceArgs) {
    return this.instances.info(instanceRef(a.instance));
  }

  @MessagePattern('list_instances')
  listInstances() {
    return this.instances.list();
  }

  @MessagePattern('rebuild_instance')
  async rebuildInstance(@Payload() a: RebuildInstanceArgs) {
    const node = await this.instances.rebuild(
      instanceRef(a.instance),
      spawnImages(a.image, this.config),
      a.preserve_ephemeral ?? false,
    );
    return { node_id: node.id, task_state: node.task_state };
  }

  /** From the deploy helper (cast, our `baremetal` namespace): a node's deploy moved on. */
  @MessagePattern({ method: DEPLOY_EVENT.method, namespace: DEPLOY_EVENT.namespace })
  deployStateChanged(@Payload() a: DeployStateChangedArgs): void {
    this.instances.deployStateChanged(a.node_id, a.instance_uuid, a.task_state);
  }

  /** A scheduler that just started asks every compute host for its nodes (fanout cast). */
  @MessagePattern('publish_service_capabilities')
  async publishServiceCapabilities(): Promise<void> {
    await this.resources.report('scheduler asked');
  }
}
