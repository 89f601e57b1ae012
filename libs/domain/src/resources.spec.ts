import { availableResource } from './resources';

const opts = {
  extraSpecs: { cpu_arch: 'x86_64', rack: 'r1' },
  hypervisorType: 'baremetal',
  driverClass: 'nova.virt.baremetal.pxe.PXE',
};
const free = {
  uuid: '5e0a976b-3662-4a2a-a95e-4a5495efb7b4',
  cpus: 2,
  memory_mb: 2048,
  local_gb: 20,
  cpu_arch: null,
  instance_uuid: null,
};

describe('availableResource (BareMetalDriver.get_available_resource)', () => {
  it('a free node: its totals, nothing used, one hypervisor named by the node uuid', () => {
    expect(availableResource(free, opts)).toEqual({
      vcpus: 2,
      memory_mb: 2048,
      local_gb: 20,
      vcpus_used: 0,
      memory_mb_used: 0,
      local_gb_used: 0,
      hypervisor_type: 'baremetal',
      hypervisor_version: 1,
      hypervisor_hostname: '5e0a976b-3662-4a2a-a95e-4a5495efb7b4',
      cpu_info: 'baremetal cpu',
      supported_instances: '[["x86_64","baremetal","baremetal"]]',
      stats: { baremetal_driver: 'nova.virt.baremetal.pxe.PXE', cpu_arch: 'x86_64', rack: 'r1' },
    });
  });

  it("a node with an instance is used whole; the node's own cpu_arch wins", () => {
    const r = availableResource(
      { ...free, instance_uuid: '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e', cpu_arch: 'aarch64' },
      opts,
    );
    expect([r.vcpus_used, r.memory_mb_used, r.local_gb_used]).toEqual([2, 2048, 20]);
    expect(r.supported_instances).toBe('[["aarch64","baremetal","baremetal"]]');
    expect(r.stats.cpu_arch).toBe('aarch64');
  });

  it('no cpu_arch anywhere: reported empty, as Nova did', () => {
    expect(availableResource(free, { ...opts, extraSpecs: {} }).supported_instances).toBe(
      '[["","baremetal","baremetal"]]',
    );
  });
});
