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

  it('finds a live flavor by id, else by name (a name of digits too)', async () => {
    await repo.create({ name: 'small', vcpus: 1, memory_mb: 512, root_gb: 5 });
    await repo.create({ name: '1', vcpus: 2, memory_mb: 512, root_gb: 5 });
    await repo.create({ name: '77', vcpus: 3, memory_mb: 512, root_gb: 5 });
    expect(await repo.find('2')).toMatchObject({ id: 2, name: '1' });
    expect(await repo.find('1')).toMatchObject({ id: 1, name: 'small' });
    expect(await repo.find('small')).toMatchObject({ id: 1 });
    expect(await repo.find('77')).toMatchObject({ id: 3 });
    await ds.query(`UPDATE flavors SET deleted = true WHERE id = 1`);
    for (const ref of ['small', '99', '99999999999999999999']) {
      const err = await repo.find(ref).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlavorNotFound);
      expect(err).toMatchObject({ ref });
    }
  });

  it('deletes a flavor: its row goes, its name can be used again', async () => {
    await repo.create({ name: 'gone', vcpus: 1, memory_mb: 512, root_gb: 5 });
    expect(await repo.delete('gone')).toMatchObject({ id: 1, name: 'gone' });
    expect(await ds.query('SELECT id FROM flavors')).toEqual([]);
    expect(await repo.delete('gone').catch((e: unknown) => e)).toBeInstanceOf(FlavorNotFound);
    expect(await repo.create({ name: 'gone', vcpus: 2, memory_mb: 512, root_gb: 5 })).toMatchObject({ id: 2 });
  });

  it('changes extra specs in a transaction: concurrent changes all count, a refusal changes nothing', async () => {
    await repo.create({ name: 'f', vcpus: 1, memory_mb: 512, root_gb: 5, extra_specs: { cpu_arch: 'x86_64' } });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => repo.updateExtraSpecs('f', (specs) => ({ ...specs, [`k${i}`]: `v${i}` }))),
    );
    const f = await repo.find('f');
    expect(JSON.parse(f.extra_specs)).toEqual({
      cpu_arch: 'x86_64',
      ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, `v${i}`])),
    });
    expect(f.updated_at).toBeInstanceOf(Date);
    const refused = await repo
      .updateExtraSpecs('f', () => {
        throw new Error('no');
      })
      .catch((e: unknown) => e);
    expect(refused).toEqual(new Error('no'));
    expect((await repo.find('f')).extra_specs).toBe(f.extra_specs);
    const { k0: _k0, ...rest } = JSON.parse(f.extra_specs) as Record<string, string>;
    expect(JSON.parse((await repo.updateExtraSpecs('1', () => rest)).extra_specs)).toEqual(rest);
  });
});
