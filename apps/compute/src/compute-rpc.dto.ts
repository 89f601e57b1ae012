import { IsBoolean, IsIn, IsObject, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { NovaBuildArgs } from '@bm/domain';

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
 * accepted and not used. There is no image service here: `image` names the files, absolute paths
 * on the compute host (`kernel`, `ramdisk`; `deploy_kernel`, `deploy_ramdisk` default to
 * `[baremetal] deploy_kernel` / `deploy_ramdisk` when those are paths).
 */
export class RunInstanceArgs extends NovaBuildArgs {
  @IsObject()
  instance: Record<string, unknown>;

  @IsString()
  @MinLength(1)
  @MaxLength(255)
  node: string;

  @IsObject()
  image: Record<string, unknown>;

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

/** rebuild_instance (Icehouse): new images for the same node; preserve_ephemeral keeps that partition. */
export class RebuildInstanceArgs extends InstanceArgs {
  @IsObject()
  image: Record<string, unknown>;

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
