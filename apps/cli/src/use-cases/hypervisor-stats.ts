/** What `hypervisor stats` reads of each enrolled node (bmctl's NodeView has it). */
export interface StatsNode {
  cpus: number | null;
  memory_mb: number | null;
  local_gb: number | null;
  instance_uuid: string | null;
  task_state: string | null;
  /** Out of service: compute does not offer it, so it is not counted. */
  maintenance?: boolean;
}

/** `nova hypervisor-stats`: the sums over every hypervisor (a node each). */
export interface HypervisorStats {
  count: number;
  vcpus: number;
  vcpus_used: number;
  memory_mb: number;
  memory_mb_used: number;
  local_gb: number;
  local_gb_used: number;
  free_ram_mb: number;
  free_disk_gb: number;
  disk_available_least: number;
  running_vms: number;
  current_workload: number;
}

/**
 * The statistics of `nova hypervisor-stats` from nova_bm, as the baremetal driver reports each
 * node: a node with an instance is wholly used (all its CPUs, memory and disk), one without is
 * wholly free. Nodes in maintenance are left out, as compute leaves them out of its nodes.
 * current_workload, as Nova counts it, is the instances still being built (not yet active).
 */
export function hypervisorStats(nodes: readonly StatsNode[]): HypervisorStats {
  const s: HypervisorStats = {
    count: 0,
    vcpus: 0,
    vcpus_used: 0,
    memory_mb: 0,
    memory_mb_used: 0,
    local_gb: 0,
    local_gb_used: 0,
    free_ram_mb: 0,
    free_disk_gb: 0,
    disk_available_least: 0,
    running_vms: 0,
    current_workload: 0,
  };
  for (const n of nodes) {
    if (n.maintenance) continue;
    const [cpus, mem, disk] = [n.cpus ?? 0, n.memory_mb ?? 0, n.local_gb ?? 0];
    const used = n.instance_uuid !== null;
    s.count++;
    s.vcpus += cpus;
    s.memory_mb += mem;
    s.local_gb += disk;
    if (used) {
      s.vcpus_used += cpus;
      s.memory_mb_used += mem;
      s.local_gb_used += disk;
      s.running_vms++;
      if (n.task_state !== 'active') s.current_workload++;
    }
  }
  s.free_ram_mb = s.memory_mb - s.memory_mb_used;
  s.free_disk_gb = s.local_gb - s.local_gb_used;
  s.disk_available_least = s.free_disk_gb;
  return s;
}
