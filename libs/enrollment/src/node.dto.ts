import {
  ArrayMinSize,
  IsArray,
  type ValidationArguments,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
  Validate,
} from 'class-validator';
import { macProblem, type Validated, validateDto, normalizeMac, parseBmcAddress, formatBmcAddress } from '@bm/domain';
import { OmitType, PartialType } from '@nestjs/mapped-types';

const INT_MAX = 2 ** 31 - 1;
const POSITIVE = { message: '$property must be a positive integer' };
const TOO_BIG = { message: '$property must be a positive integer below 2147483648' };

@ValidatorConstraint({ name: 'mac' })
class MacConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && macProblem(value) === undefined;
  }
  defaultMessage(args?: ValidationArguments): string {
    // With `each: true` class-validator hands over the whole list: report the first bad one.
    const values: unknown[] = Array.isArray(args?.value) ? args.value : [args?.value];
    const bad = values.find((v) => typeof v !== 'string' || macProblem(v) !== undefined);
    return typeof bad === 'string' ? macProblem(bad)! : 'a MAC address must be a string';
  }
}

@ValidatorConstraint({ name: 'bmcAddress' })
class BmcAddressConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && typeof parseBmcAddress(value) !== 'string';
  }
  defaultMessage(args?: ValidationArguments): string {
    if (typeof args?.value !== 'string') return 'must be a string';
    return parseBmcAddress(args.value) as string;
  }
}

/** C0 controls (NUL included), DEL and C1 controls: a BMC cannot take them, a terminal acts on them. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * What the BMC takes: IPMI 2.0 user names are at most 16 bytes and passwords at most 20 (the
 * session's key material, IPMI v2.0 §13.31), with no control character (a NUL ends the value for
 * ipmitool and for the BMC's own C strings; the rest cannot be typed at a BMC's setup screen and
 * would reach the operator's terminal); such a value would be enrolled and then fail every power
 * call. The message never repeats the value (it may be a password).
 */
function ipmiText(max: number, field: string) {
  @ValidatorConstraint({ name: `${field}Bytes` })
  class Constraint implements ValidatorConstraintInterface {
    validate(value: unknown): boolean {
      return typeof value === 'string' && Buffer.byteLength(value, 'utf8') <= max && !CONTROL.test(value);
    }
    defaultMessage(args?: ValidationArguments): string {
      if (typeof args?.value !== 'string') return `${field} must be a string`;
      const bytes = Buffer.byteLength(args.value, 'utf8');
      if (bytes > max) return `${field} is ${bytes} bytes: IPMI 2.0 takes at most ${max}`;
      const at = args.value.search(CONTROL);
      const code = args.value.charCodeAt(at).toString(16).padStart(2, '0');
      return `${field} has a control character (0x${code} at character ${at + 1}): IPMI cannot carry it`;
    }
  }
  return Validate(Constraint);
}

/** Several property decorators as one (a field's rules, shared by the create and update DTOs). */
function rules(...ds: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => ds.forEach((d) => d(target, key));
}

const PositiveInt = () => rules(IsInt(POSITIVE), Min(1, POSITIVE), Max(INT_MAX, TOO_BIG));
const BmcAddress = () => rules(IsString(), Validate(BmcAddressConstraint));
const PmUser = () => rules(IsString(), ipmiText(16, 'pm_user'));
const PmPassword = () => rules(IsString({ message: 'pm_password must be a string' }), ipmiText(20, 'pm_password'));
const CpuArch = () =>
  rules(IsString(), Matches(/^[A-Za-z0-9_]{1,32}$/, { message: 'cpu_arch must be a word such as x86_64 or aarch64' }));
const ServiceHost = () =>
  rules(IsString(), Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, { message: 'service_host must be a host name' }));
const PORT = { message: 'terminal_port must be a port number (1-65535)' };
const TerminalPort = () => rules(IsInt(PORT), Min(1, PORT), Max(65535, PORT));

/**
 * A node to enroll, from any entry point (CLI flags, baremetal.csv row, JSON, RPC). Field names
 * are nova_bm's; `macs` become `bm_interfaces` rows.
 */
export class CreateNodeDto {
  @IsArray({ message: 'macs must be a list of MAC addresses' })
  @ArrayMinSize(1, { message: 'at least one MAC address is required (the node PXE-boots from it)' })
  @Validate(MacConstraint, { each: true })
  macs: string[];

  @PositiveInt()
  cpus: number;

  @PositiveInt()
  memory_mb: number;

  @PositiveInt()
  local_gb: number;

  @BmcAddress()
  pm_address: string;

  @IsOptional()
  @PmUser()
  pm_user?: string;

  @IsOptional()
  @PmPassword()
  pm_password?: string;

  @IsOptional()
  @CpuArch()
  cpu_arch?: string;

  @IsOptional()
  @ServiceHost()
  service_host?: string;

  @IsOptional()
  @TerminalPort()
  terminal_port?: number;
}

/**
 * `bmctl node set`: the fields to change, each optional and checked as at enrollment. MACs are
 * changed with `interface add/remove`, not here.
 */
export class UpdateNodeDto extends PartialType(OmitType(CreateNodeDto, ['macs'] as const)) {}

/** The fields of UpdateNodeDto, in the order a change lists them (the enrollment's order). */
export const UPDATABLE_FIELDS = [
  'cpus',
  'memory_mb',
  'local_gb',
  'pm_address',
  'pm_user',
  'pm_password',
  'cpu_arch',
  'service_host',
  'terminal_port',
] as const satisfies readonly (keyof UpdateNodeDto)[];

/** The fields `bmctl node unset` may clear: the optional ones of a node. */
export const UNSETTABLE_FIELDS = ['cpu_arch', 'pm_user', 'pm_password', 'terminal_port'] as const;
export type UnsettableField = (typeof UNSETTABLE_FIELDS)[number];

export class AddInterfaceDto {
  @IsString()
  @Validate(MacConstraint)
  address: string;

  @IsOptional()
  @IsString()
  @MaxLength(255)
  datapath_id?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  port_no?: number;
}

/** A node input after validation: canonical MACs and BMC address. */
export interface NodeInput extends CreateNodeDto {
  service_host: string;
}

export function validateNode(plain: unknown, defaultServiceHost: string): Validated<NodeInput> {
  const r = validateDto(CreateNodeDto, plain);
  if (!r.ok) return r;
  const v = r.value;
  return {
    ok: true,
    value: {
      ...v,
      macs: v.macs.map((m) => normalizeMac(m)!),
      pm_address: formatBmcAddress(parseBmcAddress(v.pm_address) as { host: string; port: number }),
      service_host: v.service_host ?? defaultServiceHost,
    },
  };
}
