import type { DataSource } from 'typeorm';
import { HypervisorNotFound, type ResourceDict } from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { ComputeNode, openDataSource, syncSchema } from '..';
import { ComputeNodeRepository } from './compute-node.repository';

/** A node's report as compute builds it; `used` once an instance is on it. */
function dict(name: string, o: { vcpus?: number; used?: boolean; arch?: string } = {}): ResourceDict {
  const vcpus = o.vcpus ?? 2;
  return {
    vcpus,
    memory_mb: 2048,
    local_gb: 20,
    vcpus_used: o.used ? vcpus : 0,
    memory_mb_used: o.used ? 2048 : 0,
    local_gb_used: o.used ? 20 : 0,
    hypervisor_type: 'baremetal',
    hypervisor_version: 1,
    hypervisor_hostname: name,
    cpu_info: 'baremetal cpu',
    supported_instances: '[["x86_64","baremetal","baremetal"]]',
    stats: { cpu_arch: o.arch ?? 'x86_64', baremetal_driver: 'nova.virt.baremetal.pxe.PXE' },
  };
}

describe('ComputeNodeRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: ComputeNodeRepository;
  const all = () => ds.getRepository(ComputeNode).find({ order: { id: 'ASC' } });

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new ComputeNodeRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE compute_nodes RESTART IDENTITY');
  });

  it("saveReport upserts the host's nodes and soft-deletes the ones it no longer reports", async () => {
    const t1 = new Date('2024-05-06T07:08:09.123Z');
    const t2 = new Date('2024-05-06T07:09:09.456Z');
    const t3 = new Date('2024-05-06T07:10:09.789Z');
    await repo.saveReport('other', [dict('n-other')], t1);
    await repo.saveReport('cn1', [dict('n-a'), dict('n-b', { used: true, vcpus: 4 })], t1);
    let rows = await all();
    expect(rows.map((r) => [r.id, r.host, r.hypervisor_hostname, r.deleted])).toEqual([
      [1, 'other', 'n-other', false],
      [2, 'cn1', 'n-a', false],
      [3, 'cn1', 'n-b', false],
    ]);
    expect(rows[2]).toMatchObject({
      vcpus: 4,
      vcpus_used: 4,
      memory_mb_used: 2048,
      free_ram_mb: 0,
      free_disk_gb: 0,
      running_vms: 1,
      hypervisor_type: 'baremetal',
      hypervisor_version: 1,
      cpu_info: 'baremetal cpu',
      created_at: t1,
      updated_at: t1,
      deleted_at: null,
    });
    expect(JSON.parse(rows[2].stats)).toEqual(dict('x').stats);
    expect(rows[1]).toMatchObject({ free_ram_mb: 2048, free_disk_gb: 20, running_vms: 0 });

    // n-b released and moved away, n-a changed: n-b soft-deleted, n-a updated in place.
    await repo.saveReport('cn1', [dict('n-a', { used: true, arch: 'aarch64' })], t2);
    rows = await all();
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatchObject({ id: 2, vcpus_used: 2, running_vms: 1, created_at: t1, updated_at: t2 });
    expect(JSON.parse(rows[1].stats)).toMatchObject({ cpu_arch: 'aarch64' });
    expect(rows[2]).toMatchObject({ id: 3, deleted: true, deleted_at: t2, updated_at: t1 });
    expect(rows[0]).toMatchObject({ deleted: false, updated_at: t1 }); // another host's row untouched

    // n-b back: the same row, live again.
    await repo.saveReport('cn1', [dict('n-a'), dict('n-b')], t3);
    rows = await all();
    expect(rows[2]).toMatchObject({ id: 3, deleted: false, deleted_at: null, updated_at: t3, running_vms: 0 });

    // No node left: every row of the host soft-deleted.
    await repo.saveReport('cn1', [], t3);
    expect((await all()).map((r) => r.deleted)).toEqual([false, true, true]);
  });

  it('saveReport is one transaction: a bad report changes nothing', async () => {
    const t1 = new Date('2024-01-01T00:00:00.000Z');
    await repo.saveReport('cn1', [dict('n-a')], t1);
    const before = await all();
    const bad = [dict('n-b'), { ...dict('n-c'), vcpus: 2 ** 40 }]; // out of int range: the INSERT fails
    await expect(repo.saveReport('cn1', bad, new Date())).rejects.toThrow();
    expect(await all()).toEqual(before);
  });

  it('live lists the live hypervisors, of one host if asked', async () => {
    await repo.saveReport('cn1', [dict('n-a'), dict('n-b')], new Date());
    await repo.saveReport('cn2', [dict('n-c')], new Date());
    await repo.saveReport('cn1', [dict('n-b')], new Date());
    expect((await repo.live()).map((r) => r.hypervisor_hostname)).toEqual(['n-b', 'n-c']);
    expect((await repo.live({ host: 'cn2' })).map((r) => r.hypervisor_hostname)).toEqual(['n-c']);
    expect(await repo.live({ host: 'nobody' })).toEqual([]);
  });

  it('get by id or hypervisor hostname; HypervisorNotFound otherwise', async () => {
    await repo.saveReport('cn1', [dict('n-a'), dict('n-b')], new Date('2024-01-01T00:00:00Z'));
    await repo.saveReport('cn1', [dict('n-a')], new Date('2024-01-01T00:01:00Z'));
    // The same node reported by a second host later (moved; the first host not reporting yet).
    await repo.saveReport('cn2', [dict('n-a')], new Date('2024-01-01T00:02:00Z'));
    expect(await repo.get('1')).toMatchObject({ id: 1, host: 'cn1', hypervisor_hostname: 'n-a' });
    expect(await repo.get('n-a')).toMatchObject({ host: 'cn2', hypervisor_hostname: 'n-a' }); // the newest report
    for (const ref of ['2', 'n-b', '99', '99999999999', 'nope']) {
      const err = await repo.get(ref).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HypervisorNotFound);
      expect(err).toMatchObject({ ref });
    }
  });

  it('reportedSince: live rows updated at or after the cutoff', async () => {
    const old = new Date('2024-01-01T00:00:00.000Z');
    const cutoff = new Date('2024-01-01T00:05:00.000Z');
    await repo.saveReport('stale', [dict('n-old')], old);
    await repo.saveReport('cn1', [dict('n-a'), dict('n-b')], cutoff);
    await repo.saveReport('cn2', [dict('n-c')], new Date('2024-01-01T00:06:00.000Z'));
    await repo.saveReport('cn2', [], new Date('2024-01-01T00:07:00.000Z'));
    expect((await repo.reportedSince(cutoff)).map((r) => r.hypervisor_hostname)).toEqual(['n-a', 'n-b']);
    expect((await repo.reportedSince(old)).map((r) => r.hypervisor_hostname)).toEqual(['n-old', 'n-a', 'n-b']);
  });
});
