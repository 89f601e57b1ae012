import { type NovaObjectPrimitive, novaObjectName } from '@bm/contracts';
import type { DeployDisk } from '@bm/db';
import { InvalidParameterValue, UUID_PATTERN, unwrapObject } from '@bm/domain';

/** What compute needs from Nova's instance (plain dict or versioned-object primitive). */
export interface InstanceRef {
  uuid: string;
  name: string;
  /** The instance's fields as sent (the primitive's data), for the notification payloads. */
  fields: Record<string, unknown>;
  /** The `Instance` object primitive as Nova sent it (none from a plain dict): what Nova's conductor saves. */
  primitive?: NovaObjectPrimitive;
}

/** Nova's instance argument → its uuid, name (hostname, display_name or name) and fields. */
export function instanceRef(raw: Record<string, unknown>): InstanceRef {
  const data = unwrapObject(raw) as Record<string, unknown>;
  const uuid = data.uuid;
  if (typeof uuid !== 'string' || !UUID_PATTERN.test(uuid))
    throw new InvalidParameterValue([{ field: 'instance.uuid', message: 'must be a UUID' }], 'Invalid instance');
  const name =
    [data.hostname, data.display_name, data.name].find((v): v is string => typeof v === 'string' && v.length > 0) ??
    `instance-${uuid}`;
  const primitive = novaObjectName(raw) === 'Instance' ? (raw as NovaObjectPrimitive) : undefined;
  return { uuid, name, fields: data, ...(primitive ? { primitive } : {}) };
}

/**
 * The flavor's disk as the deploy partitions it, as the seed's activate_bootloader cached it in
 * bm_nodes: root_gb and ephemeral_gb in MiB, swap (MiB) at least 1. The flavor sent (a dict or a
 * Flavor primitive) first, else the instance's own flavor, else its root_gb / ephemeral_gb
 * fields; undefined when none says anything (a rebuild keeps the row's values).
 */
export function deployDisk(flavor: unknown, instance: Record<string, unknown>): DeployDisk | undefined {
  const f = [flavor, instance.flavor]
    .map((v) => unwrapObject(v))
    .find((v): v is Record<string, unknown> => !!v && typeof v === 'object' && 'root_gb' in v);
  const source = f ?? ('root_gb' in instance ? instance : undefined);
  if (!source) return undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  return {
    root_mb: n(source.root_gb) * 1024,
    swap_mb: Math.max(1, n(f?.swap)),
    ephemeral_mb: n(source.ephemeral_gb) * 1024,
  };
}
