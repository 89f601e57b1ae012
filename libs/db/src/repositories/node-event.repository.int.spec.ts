import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmNode, LATEST_VERSION, openDataSource, schemaVersion, syncSchema } from '..';
import { NodeEventRepository } from './node-event.repository';

const t = (s: string) => new Date(`2024-03-04T05:${s}Z`);

describe('NodeEventRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: NodeEventRepository;
  let ids: number[];

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new NodeEventRepository(ds);
    const nodes = ds.getRepository(BmNode);
    const saved = await nodes.save(
      [1, 2].map((i) => nodes.create({ uuid: `00000000-0000-4000-8000-00000000000${i}`, deleted: false })),
    );
    ids = saved.map((n) => n.id);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE bm_node_events RESTART IDENTITY');
  });

  it('records one event with every field, at naive UTC', async () => {
    const e = await repo.record({
      nodeId: ids[0],
      source: 'netboot',
      kind: 'tftp.file',
      detail: 'sent pxelinux.0\nto 10.0.0.5',
      durationMs: 42,
      bytes: 5_000_000_000,
      instanceUuid: '11111111-2222-4333-8444-555555555555',
      at: t('06:07.089'),
    });
    expect(e).toEqual({
      id: 1,
      nodeId: ids[0],
      at: t('06:07.089'),
      source: 'netboot',
      kind: 'tftp.file',
      detail: 'sent pxelinux.0 to 10.0.0.5',
      durationMs: 42,
      bytes: 5_000_000_000,
      instanceUuid: '11111111-2222-4333-8444-555555555555',
    });
    // Stored as naive UTC (the tests run in Asia/Tokyo).
    const [row]: { at: string }[] = await ds.query('SELECT at::text AS at FROM bm_node_events WHERE id = 1');
    expect(row.at).toBe('2024-03-04 05:06:07.089');
  });

  it('defaults at to the database now (UTC) and the optional fields to null', async () => {
    const before = Date.now();
    const e = await repo.record({ nodeId: ids[0], source: 'power', kind: 'power.on', detail: 'ipmitool power on' });
    expect(e).toMatchObject({ durationMs: null, bytes: null, instanceUuid: null });
    expect(Math.abs(e.at.getTime() - before)).toBeLessThan(60_000);
  });

  it('recordMany writes in one statement, in order; the timeline is oldest first by time then id', async () => {
    expect(await repo.recordMany([])).toEqual([]);
    const written = await repo.recordMany([
      { nodeId: ids[0], source: 'compute', kind: 'state', detail: 'building', at: t('00:02') },
      { nodeId: ids[1], source: 'power', kind: 'power.off', detail: 'other node', at: t('00:01') },
      { nodeId: ids[0], source: 'netboot', kind: 'dhcp.ack', detail: 'ack 10.0.0.5', at: t('00:01') },
      { nodeId: ids[0], source: 'netboot', kind: 'dhcp.offer', detail: 'same second, later id', at: t('00:02') },
      { nodeId: ids[0], source: 'deploy-helper', kind: 'deploy.step', detail: 'dd', durationMs: 9, bytes: 1024 },
    ]);
    expect(written.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    const line = await repo.timeline(ids[0]);
    expect(line.map((e) => [e.id, e.kind])).toEqual([
      [3, 'dhcp.ack'],
      [1, 'state'],
      [4, 'dhcp.offer'],
      [5, 'deploy.step'],
    ]);
    expect(line[3]).toMatchObject({ durationMs: 9, bytes: 1024, source: 'deploy-helper' });
    expect((await repo.timeline(ids[1])).map((e) => e.detail)).toEqual(['other node']);
    expect(await repo.timeline(2 ** 31)).toEqual([]);
  });

  it('since keeps the events at or after it; limit keeps the latest, still oldest first', async () => {
    await repo.recordMany(
      Array.from({ length: 10 }, (_, i) => ({
        nodeId: ids[0],
        source: 'power' as const,
        kind: 'power.status',
        detail: `check ${i}`,
        at: t(`0${i}:00`),
      })),
    );
    const details = (es: { detail: string }[]) => es.map((e) => e.detail);
    expect(details(await repo.timeline(ids[0], { since: t('07:00') }))).toEqual(['check 7', 'check 8', 'check 9']);
    expect(details(await repo.timeline(ids[0], { limit: 2 }))).toEqual(['check 8', 'check 9']);
    expect(details(await repo.timeline(ids[0], { since: t('02:00'), limit: 3 }))).toEqual([
      'check 7',
      'check 8',
      'check 9',
    ]);
    expect(await repo.timeline(ids[0], { since: t('10:00') })).toEqual([]);
    for (const limit of [0, -1, 1.5, 10_001])
      await expect(repo.timeline(ids[0], { limit })).rejects.toThrow(RangeError);
    expect(await repo.timeline(ids[0], { limit: 10_000 })).toHaveLength(10);
  });

  it('the foreign key refuses a node that does not exist, and writes nothing of the batch', async () => {
    await expect(repo.record({ nodeId: 999, source: 'bmctl', kind: 'state', detail: 'x' })).rejects.toMatchObject({
      code: '23503',
      constraint: 'bm_node_events_node_id_fkey',
    });
    await expect(
      repo.recordMany([
        { nodeId: ids[0], source: 'bmctl', kind: 'state', detail: 'ok' },
        { nodeId: 999, source: 'bmctl', kind: 'state', detail: 'no such node' },
      ]),
    ).rejects.toMatchObject({ code: '23503' });
    expect(await repo.timeline(ids[0])).toEqual([]);
  });

  it('the down migration removes the table', async () => {
    await repo.record({ nodeId: ids[0], source: 'bmctl', kind: 'state', detail: 'before downgrade' });
    expect(await syncSchema(ds, 15)).toEqual({ from: LATEST_VERSION, to: 15 });
    expect(await schemaVersion(ds)).toBe(15);
    expect((await ds.query(`SELECT to_regclass('bm_node_events') AS t`))[0].t).toBeNull();
    expect(await syncSchema(ds)).toEqual({ from: 15, to: LATEST_VERSION });
    expect(await repo.timeline(ids[0])).toEqual([]);
  });
});
