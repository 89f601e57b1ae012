import { IsObject, IsOptional } from 'class-validator';

/**
 * The arguments Nova's scheduler and compute build calls carry besides the instance and the node
 * (Icehouse run_instance / build_and_run_instance, and 6.x's build_and_run_instance, where
 * requested_networks and block_device_mapping are NetworkRequestList / BlockDeviceMappingList
 * primitives). They are accepted so that a real Nova caller is not refused for sending them; only
 * `filter_properties` is read (its `retry`, when our own scheduler sent the build).
 */
export class NovaBuildArgs {
  @IsOptional()
  @IsObject()
  filter_properties?: Record<string, unknown>;

  @IsOptional()
  admin_password?: unknown;

  @IsOptional()
  injected_files?: unknown;

  @IsOptional()
  requested_networks?: unknown;

  @IsOptional()
  block_device_mapping?: unknown;

  @IsOptional()
  legacy_bdm_in_spec?: unknown;

  @IsOptional()
  is_first_time?: unknown;
}
