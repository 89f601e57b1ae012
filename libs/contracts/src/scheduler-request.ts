/**
 * The scheduler's inbound shapes. Nova's request_spec and filter_properties carry many fields the
 * scheduler does not read (image, instance_properties, …); only what it reads is validated, and
 * those fields are checked strictly. A flavor may come as a legacy plain dict (Grizzly) or as a
 * versioned-object primitive (`{"nova_object.name": "Flavor", "nova_object.data": {…}}`).
 */
import { plainToInstance } from 'class-transformer';
import { IsInt, IsObject, IsOptional, IsString, Min, validateSync } from 'class-validator';
import {
  type FieldProblem,
  type Flavor,
  InvalidParameterValue,
  type NodeResourceReport,
  unwrapObject,
  validationProblems,
} from '@bm/domain';

/** A count or a size: an integer, 0 or more (checked in that order, so the first problem named is the type). */
function Count(): PropertyDecorator {
  return (target, key) => {
    IsInt()(target, key);
    Min(0)(target, key);
  };
}

class FlavorFields {
  @IsOptional()
  @IsString()
  name?: string;

  @Count()
  vcpus: number;

  @Count()
  memory_mb: number;

  @Count()
  root_gb: number;

  @IsOptional()
  @Count()
  ephemeral_gb?: number;

  @IsOptional()
  @Count()
  swap?: number;

  @IsOptional()
  @IsObject()
  extra_specs?: Record<string, string>;
}

class ReportFields {
  @IsString()
  hypervisor_hostname: string;

  @Count()
  vcpus: number;

  @Count()
  memory_mb: number;

  @Count()
  local_gb: number;

  @Count()
  vcpus_used: number;

  @Count()
  memory_mb_used: number;

  @Count()
  local_gb_used: number;
}

function check<T extends object>(
  cls: new () => T,
  value: unknown,
  field: string,
): { value?: T; problems: FieldProblem[] } {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { problems: [{ field, message: 'must be an object' }] };
  const dto = plainToInstance(cls, value);
  const problems = validationProblems(validateSync(dto)).map((p) => ({ ...p, field: `${field}.${p.field}` }));
  return { value: dto, problems };
}

/** request_spec.instance_type (or filter_properties.instance_type) as a Flavor. */
export function flavorOf(requestSpec: Record<string, unknown>, filterProperties: Record<string, unknown>): Flavor {
  const raw = unwrapObject(requestSpec.instance_type ?? filterProperties.instance_type);
  const { value, problems } = check(FlavorFields, raw, 'request_spec.instance_type');
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid flavor');
  const specs = Object.fromEntries(Object.entries(value!.extra_specs ?? {}).map(([k, v]) => [k, String(v)]));
  return {
    name: value!.name,
    vcpus: value!.vcpus,
    memory_mb: value!.memory_mb,
    root_gb: value!.root_gb,
    ephemeral_gb: value!.ephemeral_gb ?? 0,
    swap: value!.swap ?? 0,
    extra_specs: specs,
  };
}

/** filter_properties.retry: how many attempts so far and the (host, node) pairs already tried. */
export function retryOf(filterProperties: Record<string, unknown>): { attempts: number; tried: [string, string][] } {
  const retry = filterProperties.retry as { num_attempts?: unknown; hosts?: unknown } | undefined;
  const hosts = Array.isArray(retry?.hosts) ? retry!.hosts : [];
  const tried = hosts
    .filter(
      (h): h is [string, string] =>
        Array.isArray(h) && h.length >= 2 && typeof h[0] === 'string' && typeof h[1] === 'string',
    )
    .map(([h, n]) => [h, n] as [string, string]);
  return { attempts: typeof retry?.num_attempts === 'number' ? retry.num_attempts : 0, tried };
}

/** One compute host's capabilities list → node reports; bad entries are named, not half-used. */
export function reportsOf(host: string, capabilities: unknown[]): NodeResourceReport[] {
  const out: NodeResourceReport[] = [];
  const problems: FieldProblem[] = [];
  capabilities.forEach((c, i) => {
    const r = check(ReportFields, c, `capabilities[${i}]`);
    problems.push(...r.problems);
    if (!r.problems.length) {
      const x = c as Record<string, unknown>;
      out.push({
        ...r.value!,
        host,
        cpu_info: typeof x.cpu_info === 'string' ? x.cpu_info : undefined,
        stats: x.stats as NodeResourceReport['stats'],
      });
    }
  });
  if (problems.length) throw new InvalidParameterValue(problems, `Invalid capabilities from ${host}`);
  return out;
}
