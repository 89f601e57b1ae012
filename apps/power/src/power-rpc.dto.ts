import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { NodeArgs } from '@bm/domain';
import { BOOT_DEVICES, type BootDevice } from '@bm/ipmi';

export class SetBootDeviceArgs extends NodeArgs {
  @IsIn(Object.keys(BOOT_DEVICES), { message: `device must be one of ${Object.keys(BOOT_DEVICES).join(', ')}` })
  device: BootDevice;

  @IsOptional()
  @IsBoolean()
  persistent?: boolean;

  @IsOptional()
  @IsBoolean()
  efi?: boolean;
}
