import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmNode, openDataSource, syncSchema } from '..';
import { NodeEventRepository } from './node-event.repository';
import { RackRepository } from './rack.repository';

const t = (s: string) => new Date(`2024-03-04T05:${s}Z`);

describe('RackRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let rack: RackRepository;
  let events: NodeEventRepository;
  let ids: number[];

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    rack = new RackRepository(ds);
    events = new NodeEventRepository(ds);
    const nodes = ds.getRepository(BmNode);
    const saved = await nodes.save(
      [1, 2, 3].map((i) =>
        nodes.create({
          uuid: `00000000-0000-4000-8000-00000000000${i}`,
          service_host: 'cn1',
          cpus: i,
          memory_mb: 512 * i,
          local_gb: 10,
          cpu_arch: 'x86_64',
          pm_password: 'secret',
          deleted: i === 3,
        }),
      ),
    );
    ids = saved.map((n) => n.id);
    await ds.query(
      `INSERT INTO bm_node_power (node_id, power_state, checked_at, error, failures, next_check_at)
       VALUES ($1, 'on', $2, NULL, 0, $2), ($3, NULL, $2, 'BMC timed out', 3, $2)`,
      [ids[0], t('00:00'), ids[1]],
    );
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE bm_node_events RESTART IDENTITY');
  });

  it('reads every live node with its power record and maintenance, and nothing secret', async () => {
    await ds.query(`UPDATE bm_nodes SET maintenance = true, maintenance_reason = 'fan' WHERE id = $1`, [ids[1]]);
    const rows = await rack.nodes();
    expect(rows).toEqual([
      {
        id: ids[0],
        uuid: '00000000-0000-4000-8000-000000000001',
        service_host: 'cn1',
        instance_uuid: null,
        instance_name: null,
        task_state: null,
        cpus: 1,
        memory_mb: 512,
        local_gb: 10,
        cpu_arch: 'x86_64',
        maintenance: false,
        maintenance_reason: null,
        power_state: 'on',
        power_error: null,
        power_checked_at: t('00:00'),
      },
      expect.objectContaining({
        id: ids[1],
        maintenance: true,
        maintenance_reason: 'fan',
        power_error: 'BMC timed out',
      }),
    ]);
    expect(JSON.stringify(rows)).not.toContain('secret');
  });

  it('reads a database without the maintenance columns (schema 18): maintenance unknown', async () => {
    await syncSchema(ds, 18);
    try {
      const rows = await rack.nodes();
      expect(rows.map((r) => [r.id, r.maintenance, r.maintenance_reason, r.power_state])).toEqual([
        [ids[0], null, null, 'on'],
        [ids[1], null, null, null],
      ]);
    } finally {
      await syncSchema(ds);
    }
  });

  it('events: the latest per live node, the last id, and those after an id but the skipped', async () => {
    expect(await rack.lastEventId()).toBe(0);
    await events.recordMany([
      { nodeId: ids[0], source: 'compute', kind: 'state', detail: 'building (associate)', at: t('00:01') },
      { nodeId: ids[1], source: 'power', kind: 'power.on', detail: 'on', at: t('00:02') },
      { nodeId: ids[0], source: 'netboot', kind: 'dhcp.ack', detail: 'ack', at: t('00:03') },
      { nodeId: ids[2], source: 'power', kind: 'power.off', detail: 'off (deleted node)', at: t('00:04') },
      { nodeId: ids[0], source: 'deploy-helper', kind: 'deploy.progress', detail: 'w', bytes: 9e9, at: t('00:05') },
    ]);
    expect(await rack.lastEventId()).toBe(5);
    const latest = await rack.latestEvents(2);
    expect(latest.map((e) => [e.nodeId, e.id])).toEqual([
      [ids[0], 3],
      [ids[0], 5],
      [ids[1], 2],
    ]);
    expect(latest[1].bytes).toBe(9e9);
    const after = await rack.eventsAfter(1, [3], 10);
    expect(after.map((e) => e.id)).toEqual([2, 4, 5]);
    expect((await rack.eventsAfter(0, [], 2)).map((e) => e.id)).toEqual([1, 2]);
    await expect(rack.eventsAfter(0, [], 0)).rejects.toThrow(RangeError);
  });
});
