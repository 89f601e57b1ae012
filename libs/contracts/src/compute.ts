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
 * oslo accepts a request whose major matches and whose minor is at most the endpoint's. Each
 * method takes the arguments of every version of it from 6.0 to 6.4 (and Grizzly's): what a newer
 * minor added is optional, so an older caller is served too (docs/nova.md lists them).
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
    getConsoleOutput: 'get_console_output',
    getDiagnostics: 'get_diagnostics',
    getInstanceDiagnostics: 'get_instance_diagnostics',
    getHostUptime: 'get_host_uptime',
    /** Grizzly's (2.x) names of stop_instance / start_instance, still sent by a caller pinned there. */
    powerOffInstance: 'power_off_instance',
    powerOnInstance: 'power_on_instance',
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

/**
 * build_and_run_instance (Havana to 6.4): run_instance's arguments and those the conductor adds
 * since (6.0 sends all of them: security_groups, limits, host_list, accel_uuids). Read: the
 * instance (an Instance primitive: uuid, name, image_ref, kernel_id / ramdisk_id,
 * system_metadata image_*, its Flavor), `node`, `image` (Glance's dict: id, properties
 * kernel_id / ramdisk_id), `request_spec` (a RequestSpec primitive: its flavor and ImageMeta).
 * Not read: the networks, security groups, block devices, limits, the alternate hosts
 * (host_list: Nova's conductor reschedules with them, not us) and the accelerators, which a
 * bare-metal PXE deploy has no use for.
 */
export class BuildAndRunInstanceArgs extends RunInstanceArgs {
  @IsOptional()
  security_groups?: unknown;

  @IsOptional()
  limits?: unknown;

  /** 4.19+: the selected host and its alternates (Selection objects). */
  @IsOptional()
  host_list?: unknown;

  /** 5.11+: accelerator request uuids (Cyborg). */
  @IsOptional()
  accel_uuids?: unknown;
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
 * rebuild_instance (Icehouse to 6.4): the image deployed again on the instance's own node;
 * preserve_ephemeral keeps that partition. The image: `image` meta (our own callers), else
 * `image_ref` read from the image service (what Nova sends), else the instance's image_ref; the
 * flavor: the request spec's (6.x), else the instance's. `recreate` (evacuate) is refused: a
 * bare-metal instance is its node. Accepted, not read: the password, files, metadata, block
 * devices, migration, scheduled_node, limits, accelerators, reimage_boot_volume (a boot volume,
 * which a node deployed to its own disk has not) and target_state (6.2, evacuate only).
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

  /** 4.5+: the migration record of an evacuation. */
  @IsOptional()
  migration?: unknown;

  /** 4.5+: the node the scheduler chose for an evacuation. */
  @IsOptional()
  scheduled_node?: unknown;

  /** 4.5+ */
  @IsOptional()
  limits?: unknown;

  /** 4.22+: a RequestSpec primitive (its flavor is read). */
  @IsOptional()
  @IsObject()
  request_spec?: Record<string, unknown>;

  /** 5.12+ */
  @IsOptional()
  accel_uuids?: unknown;

  /** 6.1+ */
  @IsOptional()
  reimage_boot_volume?: unknown;

  /** 6.2+: the vm_state an evacuated instance ends in. */
  @IsOptional()
  target_state?: unknown;
}

/**
 * get_console_output: the instance and how many of the last lines (Nova's API passes the user's
 * `length`: an integer, a string of digits, or null for all of it; read as Nova's manager does).
 */
export class ConsoleOutputArgs {
  @IsObject()
  instance: Record<string, unknown>;

  @IsOptional()
  tail_length?: unknown;
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
