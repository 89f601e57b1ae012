import { Type } from 'class-transformer';
import { IsOptional, IsString, IsUUID, Matches, ValidateNested } from 'class-validator';
import { NodeArgs } from '@bm/domain';

/** Local paths (on the netboot host) of the four images of a deployment. */
export class BootImagesDto {
  @IsString()
  @Matches(/^\//, { message: 'kernel must be an absolute path' })
  kernel: string;

  @IsString()
  @Matches(/^\//, { message: 'ramdisk must be an absolute path' })
  ramdisk: string;

  @IsString()
  @Matches(/^\//, { message: 'deploy_kernel must be an absolute path' })
  deploy_kernel: string;

  @IsString()
  @Matches(/^\//, { message: 'deploy_ramdisk must be an absolute path' })
  deploy_ramdisk: string;
}

export class PrepareDeployArgs extends NodeArgs {
  @IsUUID()
  instance: string;

  @ValidateNested()
  @Type(() => BootImagesDto)
  images: BootImagesDto;

  @Matches(/^[A-Z0-9]{32}$/, { message: 'deploy_key must be 32 characters A-Z0-9' })
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
