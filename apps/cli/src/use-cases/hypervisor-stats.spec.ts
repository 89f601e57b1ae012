import { type StatsNode, hypervisorStats } from './hypervisor-stats';

const node = (o: Partial<StatsNode>): StatsNode => ({
  cpus: 2,
  memory_mb: 2048,
  local_gb: 20,
  instance_uuid: null,
  task_state: null,
  ...o,
});

describe('hypervisorStats (nova hypervisor-stats from nova_bm)', () => {
  it('no nodes: all zero', () => {
    expect(Object.values(hypervisorStats([])).every((v) => v === 0)).toBe(true);
  });

  it('a node with an instance is wholly used; building ones are the workload; maintenance is left out', () => {
    expect(
      hypervisorStats([
        node({ cpus: 1, memory_mb: 1024, local_gb: 10 }),
        node({ instance_uuid: 'a', task_state: 'active' }),
        node({ cpus: 4, memory_mb: 4096, local_gb: 40, instance_uuid: 'b', task_state: 'deploying' }),
        node({ cpus: 8, memory_mb: 8192, local_gb: 80, maintenance: true }),
        node({ cpus: null, memory_mb: null, local_gb: null }),
      ]),
    ).toEqual({
      count: 4,
      vcpus: 7,
      vcpus_used: 6,
      memory_mb: 7168,
      memory_mb_used: 6144,
      local_gb: 70,
      local_gb_used: 60,
      free_ram_mb: 1024,
      free_disk_gb: 10,
      disk_available_least: 10,
      running_vms: 2,
      current_workload: 1,
    });
  });
});
