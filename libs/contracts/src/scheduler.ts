import { IsArray, IsIn, IsObject, IsOptional, IsString, MinLength } from 'class-validator';
import type { ResourceDict } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import { NovaBuildArgs } from './nova-build-args';
import { type RpcServerSpec, type RpcSurface, SurfaceClient } from './surface';

/**
 * Nova's scheduler RPC API (4.x) as our scheduler (apps/scheduler) serves it: compute hosts
 * report their nodes (fanout cast), callers ask where to build (call) or have it built (cast).
 */
export const SCHEDULER = {
  topic: 'scheduler',
  version: '4.0',
  methods: {
    selectDestinations: 'select_destinations',
    runInstance: 'run_instance',
    updateServiceCapabilities: 'update_service_capabilities',
  },
} as const satisfies RpcSurface;

export const SCHEDULER_SERVER: RpcServerSpec = { topic: SCHEDULER.topic, endpoints: [{ version: SCHEDULER.version }] };

/** The compute hosts' fanout report (Nova's update_service_capabilities): one dict per node. */
export class UpdateServiceCapabilitiesArgs {
  @IsIn(['compute'])
  service_name: string;

  @IsString()
  @MinLength(1)
  host: string;

  @IsArray()
  capabilities: unknown[];
}

/** Nova's select_destinations(request_spec, filter_properties); only the fields read are checked. */
export class SelectDestinationsArgs {
  @IsObject()
  request_spec: Record<string, unknown>;

  @IsOptional()
  @IsObject()
  filter_properties?: Record<string, unknown>;
}

/** Nova's scheduler run_instance (cast): pick nodes, cast run_instance to their compute hosts. */
export class SchedulerRunInstanceArgs extends NovaBuildArgs {
  @IsObject()
  request_spec: Record<string, unknown>;
}

export interface Destination {
  host: string;
  nodename: string;
  limits: Record<string, never>;
}

/** The scheduler, over the bus. */
export class SchedulerClient {
  private readonly c: SurfaceClient<typeof SCHEDULER.methods>;

  constructor(rpc: RpcClient, timeoutS?: number) {
    this.c = new SurfaceClient(rpc, SCHEDULER, timeoutS);
  }

  runInstance(args: SchedulerRunInstanceArgs): Promise<void> {
    return this.c.cast(undefined, 'runInstance', args);
  }

  selectDestinations(args: SelectDestinationsArgs): Promise<Destination[]> {
    return this.c.call(undefined, 'selectDestinations', args);
  }

  /** A compute host's resource report, to every scheduler. */
  updateServiceCapabilities(host: string, capabilities: ResourceDict[]): Promise<void> {
    return this.c.fanoutCast('updateServiceCapabilities', { service_name: 'compute', host, capabilities });
  }
}
