import { IsBoolean, IsIn, IsOptional, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { BOOT_DEVICES, type BootDevice } from '@bm/ipmi';

@ValidatorConstraint({ name: 'nodeRef' })
class NodeRef implements ValidatorConstraintInterface {
  validate(v: unknown): boolean {
    return (typeof v === 'number' && Number.isInteger(v) && v > 0) || (typeof v === 'string' && v.trim() !== '');
  }
  defaultMessage(): string {
    return 'node must be a node id or UUID';
  }
}

/** `node`: a bm_nodes id or uuid, as Nova's driver looked nodes up. */
export class NodeArgs {
  @Validate(NodeRef)
  node: string | number;
}

export class SetBootDeviceArgs extends NodeArgs {
  @IsIn(Object.keys(BOOT_DEVICES), { message: `device must be one of ${Object.keys(BOOT_DEVICES).join(', ')}` })
  device: BootDevice;

  @IsOptional() @IsBoolean()
  persistent?: boolean;

  @IsOptional() @IsBoolean()
  efi?: boolean;
}
