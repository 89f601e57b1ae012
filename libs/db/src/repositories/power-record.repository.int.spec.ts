import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmNode, openDataSource, syncSchema } from '..';
import { PowerRecordRepository, type PowerRecordRow } from './power-record.repository';

describe('PowerRecordRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: PowerRecordRepository;
  let ids: number[];

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new PowerRecordRepository(ds);
    const nodes = ds.getRepository(BmNode);
    const saved = await nodes.save(
      [1, 2, 3].map((i) => nodes.create({ uuid: `00000000-0000-4000-8000-00000000000${i}`, deleted: false })),
    );
    ids = saved.map((n) => n.id);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('observed(): a commanded state replaces the reading, clears the error, keeps the next check', async () => {
    const next = new Date('2024-05-01T00:01:00.000Z');
    await repo.save({
      nodeId: ids[2],
      state: 'off',
      checkedAt: new Date('2024-05-01T00:00:00.000Z'),
      latencyMs: 9,
      error: 'timed out',
      failures: 2,
      nextCheckAt: next,
      changedAt: new Date('2024-04-01T00:00:00.000Z'),
    });
    const at = new Date('2024-05-01T00:00:30.000Z');
    await repo.observed(ids[2], 'on', at);
    expect((await repo.load([ids[2]])).get(ids[2])).toMatchObject({
      state: 'on',
      checkedAt: at,
      error: null,
      failures: 0,
      nextCheckAt: next,
      changedAt: at,
    });
    // The same state again: the change time stays.
    await repo.observed(ids[2], 'on', new Date('2024-05-01T00:00:40.000Z'));
    expect((await repo.load([ids[2]])).get(ids[2])?.changedAt).toEqual(at);
    await ds.query('DELETE FROM bm_node_power WHERE node_id = $1', [ids[2]]);
    // No record yet: one is made, checked now.
    await repo.observed(ids[2], 'off', at);
    expect((await repo.load([ids[2]])).get(ids[2])).toMatchObject({ state: 'off', nextCheckAt: at, changedAt: at });
    await ds.query('DELETE FROM bm_node_power WHERE node_id = $1', [ids[2]]);
  });

  it('saves records, replaces them, and loads those asked for', async () => {
    expect(await repo.load([])).toEqual(new Map());
    expect(await repo.load(ids)).toEqual(new Map());

    const on: PowerRecordRow = {
      nodeId: ids[0],
      state: 'on',
      checkedAt: new Date('2024-03-04T05:06:07.089Z'),
      latencyMs: 12,
      error: null,
      failures: 0,
      nextCheckAt: new Date('2024-03-04T05:07:07.089Z'),
      changedAt: new Date('2024-03-04T05:00:00.000Z'),
    };
    const failing: PowerRecordRow = {
      nodeId: ids[1],
      state: null,
      checkedAt: new Date('2024-03-04T05:06:08.000Z'),
      latencyMs: null,
      error: 'BMC timed out',
      failures: 3,
      nextCheckAt: new Date('2024-03-04T05:14:08.000Z'),
      changedAt: null,
    };
    await repo.save(on);
    await repo.save(failing);
    expect(await repo.load(ids)).toEqual(
      new Map([
        [ids[0], on],
        [ids[1], failing],
      ]),
    );
    // The timestamps are stored as naive UTC (the tests run in Asia/Tokyo).
    const [row]: { checked_at: string }[] = await ds.query(
      'SELECT checked_at::text AS checked_at FROM bm_node_power WHERE node_id = $1',
      [ids[0]],
    );
    expect(row.checked_at).toBe('2024-03-04 05:06:07.089');

    const off = { ...on, state: 'off' as const, changedAt: new Date('2024-03-04T06:00:00.000Z'), latencyMs: 9 };
    await repo.save(off);
    expect(await repo.load([ids[0], ids[2]])).toEqual(new Map([[ids[0], off]]));
    expect(Number((await ds.query('SELECT count(*) AS c FROM bm_node_power'))[0].c)).toBe(2);
  });
});
