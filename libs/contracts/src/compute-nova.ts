/**
 * What compute reads of the arguments Nova's compute RPC API sends, and the Nova objects it
 * answers with. Nova 6.x sends objects (Instance, Flavor, RequestSpec, ImageMeta: primitives at
 * whatever version its release has, nova-objects.ts); Icehouse-era callers and our own scheduler
 * send plain dicts. Each reader takes either and picks the few fields compute uses: every other
 * field, known or added by a later Nova, is ignored, never refused.
 */
import { type NovaObjectPrimitive, NOVA_OBJECT_DATA, isNovaObject, novaObject } from './nova-objects';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A primitive's fields (any object, any version), a plain dict as it is; anything else: {}. */
export function novaFields(v: unknown): Record<string, unknown> {
  if (isNovaObject(v)) return v[NOVA_OBJECT_DATA];
  return isRecord(v) ? v : {};
}

/** What a build or a rebuild may carry beside the instance about its flavor and image. */
export interface SentRequest {
  /** Grizzly / Icehouse: the flavor as a dict. */
  instance_type?: unknown;
  flavor?: unknown;
  /** A RequestSpec primitive (4.22+ / 6.x: `flavor`, `image`), or the legacy dict (`instance_type`, `image`). */
  request_spec?: unknown;
  /** Glance's image dict as Nova's API read it (`id`, `properties`), or an ImageMeta primitive. */
  image?: unknown;
}

/**
 * The flavor sent beside the instance, as a dict: `instance_type`, `flavor`, the request spec's
 * `flavor` (a RequestSpec) or `instance_type` (the legacy dict). Undefined when none was sent:
 * the instance's own flavor (a Flavor primitive in its data) is the one then.
 */
export function sentFlavor(a: SentRequest): Record<string, unknown> | undefined {
  const spec = novaFields(a.request_spec);
  const found = [a.instance_type, a.flavor, spec.flavor, spec.instance_type].find((v) => isRecord(v));
  return found === undefined ? undefined : novaFields(found);
}

/**
 * The image meta of a request, `properties` as a plain dict: `image` (Glance's dict, or an
 * ImageMeta), else the request spec's `image` (an ImageMeta: its id, but no kernel_id /
 * ramdisk_id, which ImageMetaProps drops). Undefined when neither says anything (`image` is {}
 * for a boot from volume).
 */
export function sentImage(a: SentRequest): Record<string, unknown> | undefined {
  for (const v of [a.image, novaFields(a.request_spec).image]) {
    const image = novaFields(v);
    if (Object.keys(image).length) return { ...image, properties: novaFields(image.properties) };
  }
  return undefined;
}

/**
 * An instance's system_metadata as a dict: Nova objects carry a dict; Grizzly's instance dicts a
 * list of `{key, value}` rows. Nova copies the image's properties there as `image_<name>`
 * (image_kernel_id, image_ramdisk_id, …).
 */
export function systemMetadata(instance: Record<string, unknown>): Record<string, unknown> {
  const sm = instance.system_metadata;
  if (Array.isArray(sm))
    return Object.fromEntries(
      sm
        .filter((r): r is { key: string; value: unknown } => isRecord(r) && typeof r.key === 'string')
        .map((r) => [r.key, r.value]),
    );
  return isRecord(sm) ? sm : {};
}

/** Whether a build came from Nova itself (a RequestSpec object) rather than our scheduler (a legacy dict). */
export function isNovaRequestSpec(v: unknown): boolean {
  return isNovaObject(v);
}

// --- what compute answers with ------------------------------------------------------------

/** What compute knows of an instance's node when asked for diagnostics (only ever of a node that is on). */
export interface NodeDiagnostics {
  /** The node's uuid. */
  node: string;
  /** `[baremetal] baremetal_type`, as the resource report's hypervisor_type. */
  hypervisor: string;
  /** Seconds since the node last booted (its latest power-on, reboot or activation), if known. */
  uptimeS: number | null;
  cpus: number;
  memoryMb: number;
  /** The node's enrolled interfaces. */
  macs: string[];
}

/** The versions of Nova's Diagnostics objects compute answers with (Zed: 1.0 each, their only version). */
export const DIAGNOSTICS_OBJECT_VERSION = '1.0';

/**
 * Nova's HypervisorDriver enum has no `baremetal` (libvirt, xenapi, vmwareapi, ironic, hyperv: a
 * Diagnostics with another value does not deserialize on Nova's side, "Field value baremetal is
 * invalid"). Ironic is what replaced this driver in Nova: the closest value Nova accepts.
 */
export const DIAGNOSTICS_DRIVER = 'ironic';

/**
 * get_instance_diagnostics: a `Diagnostics` 1.0 primitive (nova/objects/diagnostics.py), which
 * Nova's serializer turns into the object. What a node does not tell us is null: CPU times,
 * memory used, NIC and disk counters, the OS it runs. Every top-level field is set, as Nova's
 * API reads each one of them.
 */
export function instanceDiagnostics(d: NodeDiagnostics): NovaObjectPrimitive {
  const v = DIAGNOSTICS_OBJECT_VERSION;
  const cpus = Array.from({ length: Math.max(0, d.cpus) }, (_, id) =>
    novaObject('CpuDiagnostics', v, { id, time: null, utilisation: null }),
  );
  const nics = d.macs.map((mac) =>
    novaObject('NicDiagnostics', v, {
      mac_address: mac,
      rx_octets: null,
      rx_errors: null,
      rx_drop: null,
      rx_packets: null,
      rx_rate: null,
      tx_octets: null,
      tx_errors: null,
      tx_drop: null,
      tx_packets: null,
      tx_rate: null,
    }),
  );
  // The node's one local disk, the one the deploy writes; its counters are unknown.
  const disks = [
    novaObject('DiskDiagnostics', v, {
      read_bytes: null,
      read_requests: null,
      write_bytes: null,
      write_requests: null,
      errors_count: null,
    }),
  ];
  return novaObject('Diagnostics', v, {
    state: 'running',
    driver: DIAGNOSTICS_DRIVER,
    hypervisor: d.hypervisor,
    hypervisor_os: null,
    uptime: d.uptimeS,
    config_drive: false,
    memory_details: novaObject('MemoryDiagnostics', v, { maximum: d.memoryMb, used: null }),
    cpu_details: cpus,
    nic_details: nics,
    disk_details: disks,
    num_cpus: cpus.length,
    num_nics: nics.length,
    num_disks: disks.length,
  });
}

/**
 * get_diagnostics: the legacy free-form dict a driver returned (Nova's API shows it as is before
 * microversion 2.48). Ours says what the node is, not counters it cannot give.
 */
export function legacyDiagnostics(d: NodeDiagnostics): Record<string, unknown> {
  return {
    state: 'running',
    driver: 'baremetal',
    hypervisor: d.hypervisor,
    node: d.node,
    uptime: d.uptimeS,
    num_cpus: d.cpus,
    memory_mb: d.memoryMb,
    mac_addresses: d.macs,
  };
}
