import type { DataSource } from 'typeorm';
import { FlavorExists, FlavorNotFound } from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { openDataSource, syncSchema } from '..';
import { FlavorRepository } from './flavor.repository';

describe('FlavorRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: FlavorRepository;

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new FlavorRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE flavors RESTART IDENTITY');
  });

  it('creates a flavor, extra specs stored as JSON text, defaults for ephemeral and swap', async () => {
    const before = Date.now();
    const f = await repo.create({
      name: 'bm.small',
      vcpus: 2,
      memory_mb: 2048,
      root_gb: 20,
      extra_specs: { cpu_arch: 'x86_64' },
    });
    expect(f).toMatchObject({ id: 1, name: 'bm.small', ephemeral_gb: 0, swap: 0, deleted: false });
    const [row]: { extra_specs: string; created_at: Date }[] = await ds.query(
      'SELECT extra_specs, created_at FROM flavors WHERE id = 1',
    );
    expect(row.extra_specs).toBe('{"cpu_arch":"x86_64"}');
    expect(Math.abs(row.created_at.getTime() - before)).toBeLessThan(60_000); // naive UTC, not local time
    const bare = await repo.create({
      name: 'bm.bare',
      vcpus: 1,
      memory_mb: 512,
      root_gb: 5,
      ephemeral_gb: 3,
      swap: 64,
    });
    expect(bare).toMatchObject({ ephemeral_gb: 3, swap: 64, extra_specs: '{}' });
  });

  it('FlavorExists for a live name, also when two creates race', async () => {
    await repo.create({ name: 'dup', vcpus: 1, memory_mb: 512, root_gb: 5 });
    const err = await repo.create({ name: 'dup', vcpus: 2, memory_mb: 512, root_gb: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlavorExists);
    expect(err).toMatchObject({ flavorName: 'dup' });
    const race = await Promise.allSettled(
      [1, 2, 3].map((v) => repo.create({ name: 'racy', vcpus: v, memory_mb: 512, root_gb: 5 })),
    );
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of race.filter((x): x is PromiseRejectedResult => x.status === 'rejected'))
      expect(r.reason).toBeInstanceOf(FlavorExists);
  });

  it('FlavorExists, not a raw unique violation, for the name of a soft-deleted flavor', async () => {
    await repo.create({ name: 'retired', vcpus: 1, memory_mb: 512, root_gb: 5 });
    await ds.query(`UPDATE flavors SET deleted = true, deleted_at = now() AT TIME ZONE 'UTC' WHERE name = 'retired'`);
    const err = await repo.create({ name: 'retired', vcpus: 1, memory_mb: 512, root_gb: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlavorExists);
    expect(await repo.list()).toEqual([]);
  });

  it('lists the live flavors by id and finds one by name', async () => {
    await repo.create({ name: 'b', vcpus: 1, memory_mb: 512, root_gb: 5 });
    await repo.create({ name: 'a', vcpus: 2, memory_mb: 1024, root_gb: 10 });
    await repo.create({ name: 'old', vcpus: 2, memory_mb: 1024, root_gb: 10 });
    await ds.query(`UPDATE flavors SET deleted = true WHERE name = 'old'`);
    expect((await repo.list()).map((f) => f.name)).toEqual(['b', 'a']);
    expect(await repo.byName('a')).toMatchObject({ id: 2, vcpus: 2, memory_mb: 1024, root_gb: 10 });
    for (const name of ['old', 'missing']) {
      const err = await repo.byName(name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlavorNotFound);
      expect(err).toMatchObject({ ref: name });
    }
  });
});
