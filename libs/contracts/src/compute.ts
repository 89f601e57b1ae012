import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { BmState, type BmTaskState } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import { NovaBuildArgs } from './nova-build-args';
import { type RpcServerSpec, type RpcSurface, SurfaceClient } from './surface';

/**
 * Nova's compute RPC API as our compute service (apps/compute) serves it: topic `compute`,
 * `compute.<host>`, fanout `compute_fanout`. Two endpoints, as Nova's compute manager: current
 * callers (6.x, minors up to 6.4) and Grizzly-era ones (Grizzly's compute RPC API ends at 2.27);
 * oslo accepts a request whose major matches and whose minor is at most the endpoint's.
 */
export const COMPUTE = {
  topic: 'compute',
  /** What our own callers (scheduler, bmctl) send. */
  version: '6.0',
  methods: {
    getAvailableNodes: 'get_available_nodes',
    getAvailableResource: 'get_available_resource',
    runInstance: 'run_instance',
    buildAndRunInstance: 'build_and_run_instance',
    terminateInstance: 'terminate_instance',
    rebootInstance: 'reboot_instance',
    startInstance: 'start_instance',
    stopInstance: 'stop_instance',
    rebuildInstance: 'rebuild_instance',
    getInfo: 'get_info',
    listInstances: 'list_instances',
    /** A scheduler that just started asks every compute host for its nodes (Grizzly, fanout cast). */
    publishServiceCapabilities: 'publish_service_capabilities',
  },
} as const satisfies RpcSurface;

/** The version Grizzly's scheduler sent publish_service_capabilities at. */
export const COMPUTE_GRIZZLY_VERSION = '2.0';

/**
 * Our own namespace on the compute topic, so that Nova's API (no namespace) stays exactly Nova's:
 * the deploy helper tells compute that a node's deploy moved on. The row in bm_nodes stays the
 * truth: the helper writes task_state first, then casts; compute re-reads the row when woken and
 * still polls, so a lost cast costs one poll interval, never a deploy.
 */
export const COMPUTE_BAREMETAL = {
  topic: COMPUTE.topic,
  namespace: 'baremetal',
  version: '1.0',
  methods: { deployStateChanged: 'deploy_state_changed' },
} as const satisfies RpcSurface;

export const COMPUTE_SERVER: RpcServerSpec = {
  topic: COMPUTE.topic,
  endpoints: [
    { version: '6.4' },
    { version: '2.27' },
    { version: COMPUTE_BAREMETAL.version, namespace: COMPUTE_BAREMETAL.namespace },
  ],
};

export class GetAvailableResourceArgs {
  /** A node uuid (Nova's nodename for a bare-metal hypervisor). */
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  nodename: string;
}

/**
 * run_instance / build_and_run_instance. `instance` is a plain dict (Grizzly) or a Nova object
 * primitive; Nova's other arguments (request_spec, filter_properties, admin_password, …) are
 * accepted; filter_properties.retry, the flavor and the images are read. Images are image-service
 * ids, never paths: Nova's `image` meta (`id`, `properties.kernel_id` / `ramdisk_id`) or an
 * `image_ref`; the deploy pair comes from the flavor's `baremetal:deploy_kernel_id` /
 * `baremetal:deploy_ramdisk_id` or `[baremetal] deploy_kernel` / `deploy_ramdisk` (compute's
 * boot-images.ts).
 */
export class RunInstanceArgs extends NovaBuildArgs {
  @IsObject()
  instance: Record<string, unknown>;

  @IsString()
  @MinLength(1)
  @MaxLength(255)
  node: string;

  @IsOptional()
  @IsObject()
  image?: Record<string, unknown>;

  @IsOptional()
  @IsString()
  image_ref?: string;

  @IsOptional()
  @IsObject()
  instance_type?: Record<string, unknown>;

  @IsOptional()
  @IsObject()
  flavor?: Record<string, unknown>;

  @IsOptional()
  @IsObject()
  request_spec?: Record<string, unknown>;
}

/** terminate/reboot/start/stop_instance, get_info: the instance, and Nova's other arguments (unused). */
export class InstanceArgs {
  @IsObject()
  instance: Record<string, unknown>;

  @IsOptional()
  @IsIn(['SOFT', 'HARD'])
  reboot_type?: string;

  @IsOptional()
  bdms?: unknown;

  @IsOptional()
  reservations?: unknown;

  @IsOptional()
  block_device_info?: unknown;

  @IsOptional()
  network_info?: unknown;

  @IsOptional()
  clean_shutdown?: unknown;
}

/**
 * rebuild_instance (Icehouse): the image (`image` meta or `image_ref`, ids as run_instance's) deployed
 * again on the same node; preserve_ephemeral keeps that partition.
 */
export class RebuildInstanceArgs extends InstanceArgs {
  @IsOptional()
  @IsObject()
  image?: Record<string, unknown>;

  @IsOptional()
  @IsBoolean()
  preserve_ephemeral?: boolean;

  @IsOptional()
  orig_image_ref?: unknown;

  @IsOptional()
  image_ref?: unknown;

  @IsOptional()
  injected_files?: unknown;

  @IsOptional()
  new_pass?: unknown;

  @IsOptional()
  orig_sys_metadata?: unknown;

  @IsOptional()
  recreate?: unknown;

  @IsOptional()
  on_shared_storage?: unknown;

  @IsOptional()
  host?: unknown;
}

/** The states a deploy helper reports. */
export const DEPLOY_EVENT_STATES: readonly BmTaskState[] = [BmState.DEPLOYING, BmState.DEPLOYDONE, BmState.DEPLOYFAIL];

export class DeployStateChangedArgs {
  @IsInt()
  @Min(1)
  node_id!: number;

  @IsUUID()
  instance_uuid!: string;

  @IsIn(DEPLOY_EVENT_STATES as BmTaskState[])
  task_state!: BmTaskState;
}

/** What run_instance answers when called (it is normally cast). */
export interface RunInstanceResult {
  node: string;
  node_id: number;
  task_state: BmTaskState;
}

/** The instance actions bmctl and Nova's API send to the compute host of an instance. */
export type InstanceAction = 'terminateInstance' | 'rebootInstance' | 'startInstance' | 'stopInstance';

/** The compute hosts, over the bus (each call names the host). */
export class ComputeClient {
  private readonly nova: SurfaceClient<typeof COMPUTE.methods>;
  private readonly baremetal: SurfaceClient<typeof COMPUTE_BAREMETAL.methods>;

  constructor(rpc: RpcClient, timeoutS?: number) {
    this.nova = new SurfaceClient(rpc, COMPUTE, timeoutS);
    this.baremetal = new SurfaceClient(rpc, COMPUTE_BAREMETAL, timeoutS);
  }

  /** The scheduler's cast: build `instance` on `node` of `host`. */
  runInstance(host: string, args: RunInstanceArgs): Promise<void> {
    return this.nova.cast(host, 'runInstance', args);
  }

  /** terminate/reboot/start/stop_instance as a call: resolves with compute's answer once done. */
  instanceAction<T = Record<string, unknown>>(host: string, action: InstanceAction, instanceUuid: string): Promise<T> {
    return this.nova.call(host, action, { instance: { uuid: instanceUuid } });
  }

  /** Fanout: every compute host reports its nodes now. */
  publishServiceCapabilities(): Promise<void> {
    return this.nova.fanoutCast('publishServiceCapabilities', {}, COMPUTE_GRIZZLY_VERSION);
  }

  /** The deploy helper's news of a node's deploy, to the compute host that owns the node. */
  deployStateChanged(host: string, args: DeployStateChangedArgs): Promise<void> {
    return this.baremetal.cast(host, 'deployStateChanged', args);
  }
}
