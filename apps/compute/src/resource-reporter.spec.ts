import { Logger } from '@nestjs/common';
import type { SchedulerClient } from '@bm/contracts';
import { loadConfig } from '@bm/config';
import { ManualClock } from '@bm/core';
import type { ComputeNodeRepository, NodeRepository } from '@bm/db';
import type { ReportedNode, ResourceDict } from '@bm/domain';
import { ResourceReporter } from './resource-reporter';

// A node in maintenance (bmctl node maintenance on) is reported as unavailable: no resources at
// all, as Nova's Ironic driver reports one, whether or not an instance is on it; the report that
// reaches the schedulers and compute_nodes says so.
const row = (uuid: string, patch: Partial<ReportedNode> = {}): ReportedNode => ({
  uuid,
  cpus: 2,
  memory_mb: 2048,
  local_gb: 20,
  cpu_arch: 'x86_64',
  instance_uuid: null,
  maintenance: false,
  ...patch,
});

describe('ResourceReporter: nodes in maintenance', () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  function reporter(rows: ReportedNode[]) {
    const sent: ResourceDict[][] = [];
    const saved: ResourceDict[][] = [];
    const r = new ResourceReporter(
      loadConfig({ env: { BM_HOST: 'cn1' } }),
      new ManualClock(),
      { resourceRows: async () => rows, fingerprint: async () => 'f' } as unknown as NodeRepository,
      { saveReport: async (_h: string, d: ResourceDict[]) => void saved.push(d) } as unknown as ComputeNodeRepository,
      {
        updateServiceCapabilities: async (_h: string, d: ResourceDict[]) => void sent.push(d),
      } as unknown as SchedulerClient,
    );
    return { r, sent, saved };
  }
  const sizes = (d: ResourceDict) => [
    d.vcpus,
    d.memory_mb,
    d.local_gb,
    d.vcpus_used,
    d.memory_mb_used,
    d.local_gb_used,
  ];

  it('reports 0 vCPUs, 0 MB, 0 GB for a node in maintenance, free or not; the others as they are', async () => {
    const { r, sent, saved } = reporter([
      row('free'),
      row('maint', { maintenance: true }),
      row('maint-used', { maintenance: true, instance_uuid: 'i-1' }),
      row('used', { instance_uuid: 'i-2' }),
    ]);
    await r.report('test');
    expect(sent).toHaveLength(1);
    expect(sent[0].map((d) => [d.hypervisor_hostname, ...sizes(d)])).toEqual([
      ['free', 2, 2048, 20, 0, 0, 0],
      ['maint', 0, 0, 0, 0, 0, 0],
      ['maint-used', 0, 0, 0, 0, 0, 0],
      ['used', 2, 2048, 20, 2, 2048, 20],
    ]);
    expect(saved).toEqual(sent);
    expect((await r.forNode('maint'))?.stats).toMatchObject({ cpu_arch: 'x86_64' });
  });
});
