import { IsArray, IsIn, IsObject, IsOptional, IsString, MinLength } from 'class-validator';
import { NovaBuildArgs } from '@bm/domain';

/** The compute hosts' fanout report (Nova's update_service_capabilities). */
export class UpdateServiceCapabilitiesArgs {
  @IsIn(['compute'])
  service_name: string;

  @IsString()
  @MinLength(1)
  host: string;

  @IsArray()
  capabilities: unknown[];
}

/** Nova's select_destinations(request_spec, filter_properties); only the fields read are checked (request.ts). */
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
