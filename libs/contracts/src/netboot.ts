import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsUUID, Matches, ValidateNested } from 'class-validator';
import { NodeArgs } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import { type BootImageFiles, DEPLOY_KEY_PATTERN } from '@bm/pxe';
import { type HostClient, type RpcServerSpec, type RpcSurface, SurfaceClient } from './surface';

/**
 * The netboot service (apps/netboot) of one host: the PXE side of Nova's activate_bootloader /
 * switch_pxe_config / deactivate_bootloader. Its DHCP and TFTP are not on the bus.
 */
export const NETBOOT = {
  topic: 'baremetal-netboot',
  version: '1.0',
  methods: {
    /** Fetches the images by id, writes the deploy + boot config (default deploy) and a 01-<mac> link per NIC. */
    prepareDeploy: 'prepare_deploy',
    /** The deploy is written: `default boot` with the root filesystem's UUID. */
    activateBoot: 'activate_boot',
    /** Removes the node's PXE files and links; safe to repeat. */
    clean: 'clean',
    /** Whether a deploy's PXE files could be written (bmctl node validate); changes nothing. */
    validatePxe: 'validate_pxe',
  },
} as const satisfies RpcSurface;

export const NETBOOT_SERVER: RpcServerSpec = { topic: NETBOOT.topic, endpoints: [{ version: NETBOOT.version }] };

/**
 * The four images of a deployment, by image-service id: the instance's kernel and ramdisk (its
 * image's `kernel_id` / `ramdisk_id`), and the deploy kernel and ramdisk (the flavor's
 * `baremetal:deploy_kernel_id` / `baremetal:deploy_ramdisk_id`, or `[baremetal] deploy_kernel` /
 * `deploy_ramdisk`). The one shape images travel in; never a file path: the netboot service
 * fetches each id into its checksum-verified cache (libs/pxe BootImageFiles has the same keys).
 */
export class BootImages implements Record<keyof BootImageFiles, string> {
  @IsUUID('all', { message: 'kernel must be an image id (a UUID)' })
  kernel: string;

  @IsUUID('all', { message: 'ramdisk must be an image id (a UUID)' })
  ramdisk: string;

  @IsUUID('all', { message: 'deploy_kernel must be an image id (a UUID)' })
  deploy_kernel: string;

  @IsUUID('all', { message: 'deploy_ramdisk must be an image id (a UUID)' })
  deploy_ramdisk: string;
}

export class PrepareDeployArgs extends NodeArgs {
  @IsUUID()
  instance: string;

  @ValidateNested()
  @Type(() => BootImages)
  images: BootImages;

  @Matches(DEPLOY_KEY_PATTERN, { message: 'deploy_key must be 32 characters A-Z0-9' })
  deploy_key: string;
}

export class ActivateBootArgs extends NodeArgs {
  @Matches(/^[0-9a-fA-F-]{8,36}$/, { message: 'root_uuid must be a filesystem UUID' })
  root_uuid: string;
}

export class CleanArgs extends NodeArgs {
  /** The instance whose files to remove; default: the node's current instance. */
  @IsOptional()
  @IsUUID()
  instance?: string;
}

export class ValidatePxeArgs extends NodeArgs {
  /** Deploy kernel and ramdisk ids to look for in the cache or the image service. */
  @IsOptional()
  @IsArray({ message: 'deploy_images must be a list of image ids' })
  @ArrayMaxSize(64, { message: 'deploy_images: at most 64 image ids' })
  @IsUUID('all', { each: true, message: 'deploy_images must be image ids (UUIDs)' })
  deploy_images?: string[];
}

/** One check of validate_pxe: its name, whether it passed, and why (a path, an error, an image's state). */
export interface PxeCheck {
  check: string;
  ok: boolean;
  reason: string;
}

export interface ValidatePxeResult {
  node: string;
  /** The netboot host that answered. */
  host: string;
  checks: PxeCheck[];
}

export interface PrepareDeployResult {
  node: string;
  pxe_config_path: string;
  macs: string[];
}

export interface ActivateBootResult {
  node: string;
  instance: string;
  root_uuid: string;
}

export interface CleanResult {
  node: string;
  instance: string | null;
}

/** The netboot service of one host, over the bus. */
export class NetbootClient {
  private readonly c: HostClient<typeof NETBOOT.methods>;

  /** The service of `host`; calls wait `timeoutS` (default: the RpcClient's). */
  constructor(rpc: RpcClient, host: string, timeoutS?: number) {
    this.c = new SurfaceClient(rpc, NETBOOT, timeoutS).on(host);
  }

  prepareDeploy(node: number, instance: string, images: BootImages, deployKey: string): Promise<PrepareDeployResult> {
    return this.c.call('prepareDeploy', { node, instance, images: { ...images }, deploy_key: deployKey });
  }

  activateBoot(node: number, rootUuid: string): Promise<ActivateBootResult> {
    return this.c.call('activateBoot', { node, root_uuid: rootUuid });
  }

  clean(node: number, instance?: string): Promise<CleanResult> {
    return this.c.call('clean', { node, ...(instance ? { instance } : {}) });
  }

  validatePxe(node: number | string, deployImages: string[] = []): Promise<ValidatePxeResult> {
    return this.c.call('validatePxe', { node, ...(deployImages.length ? { deploy_images: deployImages } : {}) });
  }
}
