import { NoValidHost } from './errors';
import { BaremetalHostManager, type Flavor, type NodeResourceReport } from './host-manager';

const node = (
  host: string,
  uuid: string,
  vcpus: number,
  ram: number,
  disk: number,
  extra: Partial<NodeResourceReport> = {},
): NodeResourceReport => ({
  host,
  hypervisor_hostname: uuid,
  vcpus,
  memory_mb: ram,
  local_gb: disk,
  vcpus_used: 0,
  memory_mb_used: 0,
  local_gb_used: 0,
  cpu_info: 'baremetal cpu',
  stats: { cpu_arch: 'x86_64', baremetal_driver: 'nova.virt.baremetal.pxe.PXE' },
  ...extra,
});
const flavor = (vcpus: number, memory_mb: number, root_gb: number, extra_specs?: Record<string, string>): Flavor => ({
  vcpus,
  memory_mb,
  root_gb,
  extra_specs,
});
const names = (xs: { nodename: string }[]) => xs.map((x) => x.nodename);

function manager(policy: 'exact' | 'at-least' = 'exact', clock = { t: 1_000_000 }) {
  const m = new BaremetalHostManager({ policy, clock: { now: () => clock.t, sleep: async () => undefined } });
  m.report(node('cn1', 'small', 1, 1024, 10));
  m.report(node('cn1', 'medium', 2, 2048, 20));
  m.report(node('cn2', 'large', 2, 4096, 40));
  m.report(node('cn2', 'arm', 2, 2048, 20, { stats: JSON.stringify({ cpu_arch: 'aarch64' }) }));
  return m;
}

describe('BaremetalHostManager, exact policy (Nova: flavor == node)', () => {
  it('a flavor equal to a node gets that node', () => {
    expect(names(manager().select({ flavor: flavor(1, 1024, 10) }))).toEqual(['small']);
  });

  it('ExactCore, ExactRam and ExactDisk each reject a node that is merely bigger', () => {
    const m = manager();
    const e = (() => {
      try {
        m.select({ flavor: flavor(1, 1024, 5) });
      } catch (x) {
        return x as NoValidHost;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(NoValidHost);
    expect(e.name).toBe('NoValidHost');
    expect(e.rejections.find((r) => r.nodename === 'small')).toEqual({
      host: 'cn1',
      nodename: 'small',
      filter: 'ExactDiskFilter',
      reason: '10240 MB free disk, flavor asks 5120',
    });
    expect(e.rejections.find((r) => r.nodename === 'medium')!.filter).toBe('ExactCoreFilter');
    expect(e.message).toMatch(
      /^No valid host was found\. 0 of 4 nodes fit flavor 1 vCPU\/1024 MB\/5 GB \(ExactCoreFilter rejected 3, ExactDiskFilter rejected 1\)\.$/,
    );
  });

  it('ephemeral and swap count in the disk the flavor asks', () => {
    expect(names(manager().select({ flavor: { ...flavor(1, 1024, 8), ephemeral_gb: 1, swap: 1024 } }))).toEqual([
      'small',
    ]);
  });

  it('extra specs: cpu_arch from the stats (object or Icehouse JSON string), scoped keys skipped, operators', () => {
    expect(names(manager().select({ flavor: flavor(2, 2048, 20, { cpu_arch: 'aarch64' }) }))).toEqual(['arm']);
    expect(
      names(
        manager().select({
          flavor: flavor(2, 2048, 20, { 'capabilities:cpu_arch': 'x86_64', 'baremetal:deploy_kernel_id': 'whatever' }),
        }),
      ),
    ).toEqual(['medium']);
    expect(names(manager().select({ flavor: flavor(2, 2048, 20, { cpu_arch: '<or> aarch64 <or> ppc64' }) }))).toEqual([
      'arm',
    ]);
    expect(() => manager().select({ flavor: flavor(2, 2048, 20, { cpu_arch: 's390x' }) })).toThrow(
      /ComputeCapabilitiesFilter rejected 2/,
    );
    expect(() => manager().select({ flavor: flavor(2, 2048, 20, { rack: 'r9' }) })).toThrow(NoValidHost);
  });

  it('host-state figures are capabilities too (free_ram_mb >= …)', () => {
    expect(names(manager().select({ flavor: flavor(2, 4096, 40, { free_ram_mb: '>= 4096' }) }))).toEqual(['large']);
  });

  it('consumes a node whole: the same node never twice, and a smaller flavor cannot share it', () => {
    const m = manager('at-least');
    expect(names(m.select({ flavor: flavor(1, 512, 5) }))).toEqual(['small']);
    const small = m.states().find((s) => s.nodename === 'small')!;
    expect([small.vcpusUsed, small.freeRamMb, small.freeDiskMb]).toEqual([1, 0, 0]);
    expect(names(m.select({ flavor: flavor(1, 512, 5) }))).toEqual(['medium']);
  });

  it('a node a report shows as used is not offered', () => {
    const m = manager();
    m.report(node('cn1', 'small', 1, 1024, 10, { vcpus_used: 1, memory_mb_used: 1024, local_gb_used: 10 }));
    expect(() => m.select({ flavor: flavor(1, 1024, 10) })).toThrow(/ExactCoreFilter rejected 4/);
  });

  it('count: several instances on distinct nodes, all or nothing', () => {
    const m = new BaremetalHostManager({ clock: { now: () => 0, sleep: async () => undefined } });
    for (const u of ['a', 'b', 'c']) m.report(node('cn1', u, 1, 1024, 10));
    expect(() => m.select({ flavor: flavor(1, 1024, 10), count: 4 })).toThrow(
      /3 of 3 nodes fit flavor 1 vCPU\/1024 MB\/10 GB, 4 needed/,
    );
    expect(names(m.select({ flavor: flavor(1, 1024, 10), count: 2 }))).toEqual(['a', 'b']);
    expect(names(m.select({ flavor: flavor(1, 1024, 10) }))).toEqual(['c']);
    expect(() => m.select({ flavor: flavor(1, 1024, 10) })).toThrow(NoValidHost);
  });

  it('RetryFilter: nodes already tried for this request are skipped', () => {
    const m = new BaremetalHostManager({ clock: { now: () => 0, sleep: async () => undefined } });
    for (const u of ['a', 'b']) m.report(node('cn1', u, 1, 1024, 10));
    expect(names(m.select({ flavor: flavor(1, 1024, 10), tried: [['cn1', 'a']] }))).toEqual(['b']);
    expect(() => m.select({ flavor: flavor(1, 1024, 10), tried: [['cn1', 'a']] })).toThrow(/RetryFilter rejected 1/);
  });

  it('stale reports: filtered out, then expired', () => {
    const clock = { t: 1_000_000 };
    const m = manager('exact', clock);
    clock.t += 200_000;
    m.report(node('cn2', 'large', 2, 4096, 40));
    expect(() => m.select({ flavor: flavor(1, 1024, 10) })).toThrow(/ComputeFilter rejected 3/);
    expect(m.expireStale()).toBe(3);
    expect(m.size).toBe(1);
  });

  it('a node reporting 0 vCPUs is never chosen', () => {
    const m = new BaremetalHostManager({ clock: { now: () => 0, sleep: async () => undefined } });
    m.report(node('cn1', 'zero', 0, 1024, 10));
    expect(() => m.select({ flavor: flavor(0, 1024, 10) })).toThrow(/ExactCoreFilter rejected 1/);
  });

  it('exact ties break by host and node name (repeatable)', () => {
    const m = new BaremetalHostManager({ clock: { now: () => 0, sleep: async () => undefined } });
    for (const [h, u] of [
      ['cn2', 'x'],
      ['cn1', 'z'],
      ['cn1', 'y'],
    ])
      m.report(node(h, u, 1, 1024, 10));
    expect(names(m.select({ flavor: flavor(1, 1024, 10), count: 3 }))).toEqual(['y', 'z', 'x']);
  });
  it("the walk of the flavor's size bucket skips nodes other filters reject, and a freed node goes back in name order", () => {
    const m = new BaremetalHostManager({ clock: { now: () => 0, sleep: async () => undefined } });
    m.report(node('cn1', 'a', 1, 1024, 10, { stats: { cpu_arch: 'aarch64' } }));
    for (const u of ['d', 'c', 'b']) m.report(node('cn1', u, 1, 1024, 10));
    const x86 = flavor(1, 1024, 10, { cpu_arch: 'x86_64' });
    expect(names(m.select({ flavor: x86, tried: [['cn1', 'b']] }))).toEqual(['c']);
    expect(names(m.select({ flavor: x86 }))).toEqual(['b']);
    m.report(node('cn1', 'c', 1, 1024, 10)); // c's instance deleted: free again
    expect(names(m.select({ flavor: x86, count: 2 }))).toEqual(['c', 'd']);
    expect(() => m.select({ flavor: x86 })).toThrow(/ComputeCapabilitiesFilter rejected 1/);
  });
});

describe('BaremetalHostManager, at-least policy (MAAS-style: the smallest node that fits)', () => {
  it('picks the smallest fitting node, RAM first, then CPUs, then disk', () => {
    const m = manager('at-least');
    expect(names(m.select({ flavor: flavor(1, 1500, 10) }))).toEqual(['medium']); // medium (cn1) and arm (cn2) tie on size: host, then name
    expect(names(m.select({ flavor: flavor(1, 1500, 10) }))).toEqual(['arm']);
    expect(names(m.select({ flavor: flavor(1, 1500, 10) }))).toEqual(['large']);
  });

  it('Core, Ram and Disk filters say what is short', () => {
    const m = manager('at-least');
    const e = (() => {
      try {
        m.select({ flavor: flavor(4, 1024, 10) });
      } catch (x) {
        return x as NoValidHost;
      }
      throw new Error('no error');
    })();
    expect(e.rejections.map((r) => r.filter)).toEqual(['CoreFilter', 'CoreFilter', 'CoreFilter', 'CoreFilter']);
    expect(() => m.select({ flavor: flavor(1, 8192, 10) })).toThrow(/RamFilter rejected 4/);
    expect(() => m.select({ flavor: flavor(1, 1024, 50) })).toThrow(/DiskFilter rejected 4/);
  });
});

describe('BaremetalHostManager with many nodes (size buckets, partial selection)', () => {
  it('picks exactly what a full sort would, for both policies', () => {
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const sizes: [number, number, number][] = [
      [1, 1024, 10],
      [2, 2048, 20],
      [2, 4096, 40],
      [4, 8192, 80],
    ];
    for (const policy of ['exact', 'at-least'] as const) {
      const m = new BaremetalHostManager({ policy, clock: { now: () => 0, sleep: async () => undefined } });
      const all: { host: string; name: string; size: [number, number, number] }[] = [];
      for (let i = 0; i < 400; i++) {
        const size = sizes[rnd(4)];
        const e = { host: `cn${rnd(5)}`, name: `node-${rnd(100000)}-${i}`, size };
        all.push(e);
        m.report(node(e.host, e.name, ...size));
      }
      const free = new Set(all);
      for (let k = 0; k < 60; k++) {
        const want = sizes[rnd(4)];
        const count = 1 + rnd(3);
        const fits = [...free].filter((e) =>
          policy === 'exact' ? e.size.every((v, j) => v === want[j]) : e.size.every((v, j) => v >= want[j]),
        );
        fits.sort(
          (a, b) =>
            (policy === 'exact' ? 0 : a.size[1] - b.size[1] || a.size[0] - b.size[0] || a.size[2] - b.size[2]) ||
            (a.host < b.host ? -1 : a.host > b.host ? 1 : a.name < b.name ? -1 : 1),
        );
        if (fits.length < count) {
          expect(() => m.select({ flavor: flavor(...want), count })).toThrow(NoValidHost);
          continue;
        }
        const got = names(m.select({ flavor: flavor(...want), count }));
        expect(got).toEqual(fits.slice(0, count).map((e) => e.name));
        for (const e of fits.slice(0, count)) free.delete(e);
      }
    }
  });
});
