/**
 * What a compute host reports for one bare-metal node: the dict of Nova's
 * BareMetalDriver.get_available_resource(nodename), which the scheduler's host manager reads
 * (hypervisor_hostname = the node's uuid, one hypervisor per node, all of it used once an instance
 * is on it).
 */
import { nodeStats } from './extra-specs';

/** The node fields the report needs (a bm_nodes row or a view of it). */
export interface ReportedNode {
  uuid: string | null;
  cpus: number | null;
  memory_mb: number | null;
  local_gb: number | null;
  cpu_arch: string | null;
  instance_uuid: string | null;
  /** In maintenance (migration 019): reported with no resources at all. */
  maintenance?: boolean;
}

export interface ResourceDict {
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  hypervisor_type: string;
  hypervisor_version: number;
  hypervisor_hostname: string;
  /** The string Nova's Juno scheduler uses to recognise a bare-metal node. */
  cpu_info: 'baremetal cpu';
  /** JSON, as Havana+ sent it: [[arch, hypervisor_type, vm_mode]]. */
  supported_instances: string;
  /** The extra specs (`baremetal_driver`, `cpu_arch`, …) the ComputeCapabilitiesFilter matches. */
  stats: Record<string, string>;
}

export interface ReportOptions {
  /** `[baremetal] instance_type_extra_specs`. */
  extraSpecs: Readonly<Record<string, string>>;
  /** `[baremetal] baremetal_type` (default `baremetal`). */
  hypervisorType: string;
  /** The node driver's class path, reported as stats.baremetal_driver. */
  driverClass: string;
}

/**
 * A node in maintenance is reported as Nova's Ironic driver reports an unavailable node: 0 vCPUs,
 * 0 MB, 0 GB (and nothing used), so no scheduler's filters let a flavor onto it and it adds
 * nothing to the hypervisor statistics, whether or not an instance is on it.
 */
export function availableResource(n: ReportedNode, o: ReportOptions): ResourceDict {
  const vcpus = n.maintenance ? 0 : (n.cpus ?? 0);
  const memory = n.maintenance ? 0 : (n.memory_mb ?? 0);
  const disk = n.maintenance ? 0 : (n.local_gb ?? 0);
  const used = n.instance_uuid !== null;
  const stats = nodeStats(o.extraSpecs, o.driverClass, n.cpu_arch);
  return {
    vcpus,
    memory_mb: memory,
    local_gb: disk,
    vcpus_used: used ? vcpus : 0,
    memory_mb_used: used ? memory : 0,
    local_gb_used: used ? disk : 0,
    hypervisor_type: o.hypervisorType,
    hypervisor_version: 1,
    hypervisor_hostname: String(n.uuid),
    cpu_info: 'baremetal cpu',
    supported_instances: JSON.stringify([[stats.cpu_arch, o.hypervisorType, 'baremetal']]),
    stats,
  };
}
