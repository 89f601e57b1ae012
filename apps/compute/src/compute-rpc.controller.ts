import { Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import type { BmConfig } from '@bm/config';
import { EnrollmentService } from '@bm/enrollment';
import { OsloController } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';

/**
 * The compute RPC API (topic `compute`, `compute.<host>`). Only the node inventory so far; the
 * instance methods (run_instance, terminate_instance, …) arrive with the spawn work.
 */
@OsloController()
export class ComputeRpcController {
  constructor(
    private readonly enrollment: EnrollmentService,
    @Inject(BM_CONFIG) private readonly config: BmConfig,
  ) {}

  /** BareMetalDriver.get_available_nodes: the uuid of every node this host owns, free or busy. */
  @MessagePattern('get_available_nodes')
  async getAvailableNodes(): Promise<string[]> {
    const nodes = await this.enrollment.listNodes({ serviceHost: this.config.default.host });
    return nodes.map((n) => n.uuid!);
  }
}
