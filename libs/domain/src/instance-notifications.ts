/**
 * Nova's legacy (unversioned) instance notification payload, as `info_from_instance` builds it
 * (nova/notifications.py, Icehouse): who owns the instance, its flavor and size, where it runs,
 * its vm_state/task_state and lifecycle times. Built from the instance argument Nova's callers
 * send (a plain dict, or a versioned-object primitive) plus what compute knows (host, node, the
 * states of the step being announced). Fields the caller did not send are Nova's empty values.
 */

/** `nova_object` primitives → their data; plain dicts as they are. */
export function unwrapObject(v: unknown): unknown {
  return v && typeof v === 'object' && 'nova_object.data' in v ? (v as Record<string, unknown>)['nova_object.data'] : v;
}

const asRecord = (v: unknown): Record<string, unknown> => {
  const u = unwrapObject(v);
  return u && typeof u === 'object' && !Array.isArray(u) ? (u as Record<string, unknown>) : {};
};

/** oslo's strtime: `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC, no zone), as Nova's null_safe_isotime. */
export function novaIsoTime(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000`;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v));
const int = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v)
    ? Math.trunc(v)
    : typeof v === 'string' && /^-?\d+$/.test(v)
      ? Number(v)
      : 0;
const time = (v: unknown): string => (v instanceof Date ? novaIsoTime(v) : str(v));

export interface InstanceEventState {
  host: string;
  node?: string | null;
  /** The flavor, when the call carried it apart from the instance (request_spec.instance_type). */
  flavor?: unknown;
  /** Nova's vm_state after this step (building, active, stopped, deleted, error). */
  vm_state: string;
  /** Nova's task_state during this step (spawning, deleting, rebooting, …), or null. */
  task_state: string | null;
  launched_at?: Date;
  terminated_at?: Date;
  deleted_at?: Date;
}

/** The payload of `compute.instance.<event>.<phase>` for `instance` (dict or primitive). */
export function legacyInstancePayload(instance: unknown, s: InstanceEventState): Record<string, unknown> {
  const i = asRecord(instance);
  // The flavor: the instance's own (a Flavor primitive in current Nova), else the one sent beside it.
  const flavor = { ...asRecord(s.flavor), ...asRecord(i.flavor ?? i.instance_type) };
  const size = (k: 'memory_mb' | 'vcpus' | 'root_gb' | 'ephemeral_gb') => int(i[k] ?? flavor[k]);
  const meta = i.metadata;
  return {
    tenant_id: str(i.project_id),
    user_id: str(i.user_id),
    instance_id: str(i.uuid),
    display_name: str(i.display_name ?? i.hostname ?? i.name),
    reservation_id: str(i.reservation_id),
    hostname: str(i.hostname),
    instance_type: str(flavor.name),
    instance_type_id: i.instance_type_id ?? flavor.id ?? null,
    instance_flavor_id: str(flavor.flavorid),
    memory_mb: size('memory_mb'),
    disk_gb: size('root_gb') + size('ephemeral_gb'),
    vcpus: size('vcpus'),
    root_gb: size('root_gb'),
    ephemeral_gb: size('ephemeral_gb'),
    host: s.host,
    node: s.node ?? str(i.node),
    availability_zone: i.availability_zone ?? null,
    cell_name: str(i.cell_name),
    created_at: str(i.created_at),
    launched_at: s.launched_at ? novaIsoTime(s.launched_at) : time(i.launched_at),
    terminated_at: s.terminated_at ? novaIsoTime(s.terminated_at) : time(i.terminated_at),
    deleted_at: s.deleted_at ? novaIsoTime(s.deleted_at) : time(i.deleted_at),
    image_ref_url: str(i.image_ref),
    os_type: i.os_type ?? null,
    kernel_id: str(i.kernel_id),
    ramdisk_id: str(i.ramdisk_id),
    architecture: i.architecture ?? null,
    state: s.vm_state,
    state_description: str(s.task_state),
    progress: i.progress === undefined || i.progress === null ? '' : int(i.progress),
    access_ip_v4: i.access_ip_v4 ?? null,
    access_ip_v6: i.access_ip_v6 ?? null,
    fixed_ips: [],
    image_meta: asRecord(i.image_meta),
    metadata: meta && typeof meta === 'object' && !Array.isArray(meta) ? meta : {},
  };
}
