import type { Command } from 'commander';
import type { ComputeNode } from '@bm/db';
import type { Column } from '../output';
import type { CliSession } from '../session';
import { hypervisorStats } from '../use-cases/hypervisor-stats';

type HypervisorView = ReturnType<typeof view>;

/** The columns of `hypervisor list` (nova hypervisor-list, with what a node offers). */
const HYPERVISOR_COLUMNS: Column<HypervisorView>[] = [
  { header: 'ID', value: (h) => h.id },
  { header: 'Hypervisor hostname', value: (h) => h.hypervisor_hostname },
  { header: 'Host', value: (h) => h.host },
  { header: 'vCPUs used/total', value: (h) => `${h.vcpus_used}/${h.vcpus}` },
  { header: 'Memory MB used/total', value: (h) => `${h.memory_mb_used}/${h.memory_mb}` },
  { header: 'Disk GB used/total', value: (h) => `${h.local_gb_used}/${h.local_gb}` },
  { header: 'Arch', value: (h) => (h.stats as Record<string, unknown> | null)?.cpu_arch },
  { header: 'Updated', value: (h) => h.updated_at },
  { header: 'Hypervisor type', value: (h) => h.hypervisor_type, long: true },
  { header: 'Running VMs', value: (h) => h.running_vms, long: true },
];

/** One hypervisor as bmctl shows it: a compute_nodes row, with stats parsed. */
function view(c: ComputeNode) {
  let stats: unknown = c.stats;
  try {
    stats = JSON.parse(c.stats);
  } catch {
    // shown as stored
  }
  return {
    id: c.id,
    hypervisor_hostname: c.hypervisor_hostname,
    host: c.host,
    hypervisor_type: c.hypervisor_type,
    hypervisor_version: c.hypervisor_version,
    vcpus: c.vcpus,
    vcpus_used: c.vcpus_used,
    memory_mb: c.memory_mb,
    memory_mb_used: c.memory_mb_used,
    local_gb: c.local_gb,
    local_gb_used: c.local_gb_used,
    free_ram_mb: c.free_ram_mb,
    free_disk_gb: c.free_disk_gb,
    running_vms: c.running_vms,
    cpu_info: c.cpu_info,
    supported_instances: c.supported_instances,
    stats,
    updated_at: c.updated_at?.toISOString() ?? null,
  };
}

/**
 * `bmctl hypervisor …`: the nodes as the scheduler sees them (nova hypervisor-list/-show): one
 * hypervisor per bare-metal node, from the compute hosts' resource reports.
 */
export function hypervisorCommands(program: Command, session: CliSession): void {
  const hv = program
    .command('hypervisor')
    .description('hypervisors: one per node, as compute reports them (nova hypervisor-*)');
  hv.command('list')
    .description('list hypervisors (compute_nodes)')
    .option('--host <host>', 'only those of this compute host')
    .action(async (o: { host?: string }, cmd: Command) => {
      const s = session.for(cmd);
      const rows = await (await s.database()).computeNodes.live({ host: o.host });
      s.printList(rows.map(view), HYPERVISOR_COLUMNS);
    });
  hv.command('show')
    .description('one hypervisor, by id or hypervisor hostname (the node uuid)')
    .argument('<hypervisor>', 'id or node uuid')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printRecord(view(await (await s.database()).computeNodes.get(ref)));
    });
  hv.command('stats')
    .description(
      'the sums over every node (nova hypervisor-stats), from nova_bm: a node with an instance is wholly used; ' +
        'nodes in maintenance are left out',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printRecord({ ...hypervisorStats(await (await s.enrollment()).listNodes()) });
    });
}
