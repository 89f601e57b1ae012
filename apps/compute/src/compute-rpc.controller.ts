import { Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { BmConfig } from '@bm/config';
import { EnrollmentService } from '@bm/enrollment';
import { OsloController } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { GetAvailableResourceArgs } from './compute-rpc.dto';
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
  ) {}

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
}
