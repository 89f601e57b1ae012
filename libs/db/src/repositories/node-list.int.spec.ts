import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { InvalidParameterValue, NodeInMaintenance } from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmInterface, BmNode, BmNodePower, openDataSource, schemaVersion, syncSchema } from '..';
import { NODE_SORT_KEYS, type NodeListQuery, type NodeListRow, NodeRepository } from './node.repository';

// Operator's reads and writes of the nodes (bmctl node list, maintenance, validate), against
// PostgreSQL: filters, sorting and marker paging done in SQL, the maintenance flag and what it
// changes for the scheduler, the claim and the resource report (migration 019).

describe('NodeRepository: node list, maintenance, MAC clashes (migration 019)', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: NodeRepository;
  let seq = 0;

  const node = async (patch: Partial<BmNode> = {}, power?: Partial<BmNodePower>, macs = 1): Promise<BmNode> => {
    seq += 1;
    const r = ds.getRepository(BmNode);
    const n = await r.save(
      r.create({
        uuid: randomUUID(),
        service_host: 'cn1',
        cpus: 2,
        memory_mb: 2048,
        local_gb: 20,
        cpu_arch: 'x86_64',
        pm_address: `10.8.0.${seq}:623`,
        pm_user: 'admin',
        pm_password: 'secret',
        task_state: null,
        instance_uuid: null,
        created_at: new Date(Date.UTC(2024, 0, 1, 0, 0, seq)),
        deleted: false,
        ...patch,
      }),
    );
    for (let i = 0; i < macs; i++)
      await ds.getRepository(BmInterface).save({
        bm_node_id: n.id,
        address: `52:54:00:08:${seq.toString(16).padStart(2, '0')}:0${i}`,
        deleted: false,
      });
    if (power)
      await ds.getRepository(BmNodePower).save({
        node_id: n.id,
        checked_at: new Date(),
        next_check_at: new Date(),
        failures: 0,
        power_state: null,
        error: null,
        ...power,
      });
    return n;
  };

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new NodeRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  describe('list', () => {
    // A small fleet with every kind of value the filters and sort keys meet, NULLs included.
    let n: Record<string, BmNode>;
    const ids = (rows: NodeListRow[]) => rows.map((r) => r.id);

    beforeAll(async () => {
      await ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE');
      const at = (s: number) => new Date(Date.UTC(2024, 5, 1, 0, 0, s));
      n = {
        free: await node({ cpus: 4, memory_mb: 4096 }, { power_state: 'off' }, 2),
        active: await node(
          { task_state: 'active', instance_uuid: randomUUID(), updated_at: at(30), cpus: 1 },
          { power_state: 'on' },
        ),
        released: await node({ task_state: 'deleted', updated_at: at(10), memory_mb: 512 }, { power_state: 'on' }),
        broken: await node(
          { task_state: 'error', instance_uuid: randomUUID(), cpus: null, maintenance: true },
          { power_state: null, error: 'BMC 10.8.0.4:623: no answer' },
        ),
        other: await node({ service_host: 'cn2', updated_at: at(20), local_gb: 200, maintenance: true }),
        building: await node({ task_state: 'building', instance_uuid: randomUUID(), cpus: 8 }, { power_state: 'off' }),
      };
      await node({ deleted: true, pm_address: null }); // never listed
    });

    it('every live node by id, with the power sync’s last view, its MACs, and no password', async () => {
      const rows = await repo.list();
      expect(ids(rows)).toEqual(Object.values(n).map((x) => x.id));
      const free = rows[0];
      expect(free).toMatchObject({
        uuid: n.free.uuid,
        power_state: 'off',
        power_error: null,
        pm_password_set: true,
        maintenance: false,
        maintenance_reason: null,
        macs: ['52:54:00:08:01:00', '52:54:00:08:01:01'],
      });
      expect(Object.keys(free)).not.toContain('pm_password');
      expect(rows.find((r) => r.id === n.broken.id)).toMatchObject({
        power_state: null,
        power_error: 'BMC 10.8.0.4:623: no answer',
      });
      expect(rows.find((r) => r.id === n.other.id)).toMatchObject({ power_state: null, power_checked_at: null });
    });

    it.each<[string, NodeListQuery, string[]]>([
      ['host', { host: 'cn2' }, ['other']],
      ['state', { state: 'active' }, ['active']],
      ['state none: never used or released', { state: 'none' }, ['free', 'released', 'other']],
      ['maintenance', { maintenance: true }, ['broken', 'other']],
      ['no maintenance', { maintenance: false }, ['free', 'active', 'released', 'building']],
      ['associated', { associated: true }, ['active', 'broken', 'building']],
      ['unassociated', { associated: false }, ['free', 'released', 'other']],
      ['all together', { host: 'cn1', state: 'none', maintenance: false, associated: false }, ['free', 'released']],
      ['nothing matches', { host: 'cn9' }, []],
    ])('filter: %s', async (_what, q, names) => {
      expect(ids(await repo.list(q))).toEqual(names.map((k) => n[k].id));
    });

    it.each<[NodeListQuery['sort'], string[]]>([
      [{ key: 'cpus', dir: 'asc' }, ['active', 'released', 'other', 'free', 'building', 'broken']],
      [{ key: 'cpus', dir: 'desc' }, ['building', 'free', 'other', 'released', 'active', 'broken']],
      [{ key: 'memory_mb', dir: 'asc' }, ['released', 'active', 'broken', 'other', 'building', 'free']],
      [{ key: 'local_gb', dir: 'desc' }, ['other', 'building', 'broken', 'released', 'active', 'free']],
      [{ key: 'task_state', dir: 'asc' }, ['active', 'building', 'released', 'broken', 'free', 'other']],
      [{ key: 'power_state', dir: 'asc' }, ['free', 'building', 'active', 'released', 'broken', 'other']],
      [{ key: 'power_state', dir: 'desc' }, ['released', 'active', 'building', 'free', 'other', 'broken']],
      // updated_at, else created_at: the nodes never changed since enrollment are older.
      [{ key: 'updated_at', dir: 'desc' }, ['active', 'other', 'released', 'building', 'broken', 'free']],
    ])('sort %j: NULLs last either way, ties by id in the same direction', async (sort, names) => {
      expect(ids(await repo.list({ sort }))).toEqual(names.map((k) => n[k].id));
    });

    it('sorts by uuid and id both ways', async () => {
      const byUuid = Object.values(n).sort((a, b) => (a.uuid! < b.uuid! ? -1 : 1));
      expect(ids(await repo.list({ sort: { key: 'uuid', dir: 'asc' } }))).toEqual(byUuid.map((x) => x.id));
      expect(ids(await repo.list({ sort: { key: 'id', dir: 'desc' } }))).toEqual(
        Object.values(n)
          .map((x) => x.id)
          .reverse(),
      );
    });

    // Paging must give back the whole ordered list, page by page, for every key and direction:
    // including through NULLs, ties, and a marker the filter itself would leave out.
    it.each(NODE_SORT_KEYS.flatMap((key) => (['asc', 'desc'] as const).map((dir) => ({ key, dir }))))(
      'pages of 2 with --marker walk the whole list in order: %j',
      async (sort) => {
        const all = ids(await repo.list({ sort }));
        const walked: number[] = [];
        let marker: string | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await repo.list({ sort, limit: 2, marker });
          walked.push(...ids(rows));
          if (rows.length < 2) break;
          marker = rows[rows.length - 1].uuid!;
        }
        expect(walked).toEqual(all);
        // Filtered: the marker is the first node in maintenance, which the filter leaves out.
        const marked = (await repo.list({ sort, maintenance: true }))[0];
        const after = all.slice(all.indexOf(marked.id) + 1).filter((id) => id !== n.broken.id && id !== n.other.id);
        expect(ids(await repo.list({ sort, maintenance: false, marker: marked.uuid! }))).toEqual(after);
      },
    );

    it('an unknown or deleted marker is refused, naming it', async () => {
      const gone = (await ds.query(`SELECT uuid FROM bm_nodes WHERE deleted`)) as { uuid: string }[];
      for (const marker of [randomUUID(), gone[0].uuid]) {
        const e = await repo.list({ marker }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(InvalidParameterValue);
        expect((e as Error).message).toContain(`marker: no live node has uuid ${marker}`);
      }
    });

    it('refuses a sort key it does not know (never put into SQL)', async () => {
      const sort = { key: 'pm_password; --', dir: 'asc' } as unknown as NodeListQuery['sort'];
      await expect(repo.list({ sort })).rejects.toThrow(/cannot sort by pm_password/);
    });
  });

  describe('maintenance', () => {
    beforeAll(() => ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE'));

    it('on with a reason, again with another (its time kept), off: each on the timeline', async () => {
      const a = await node();
      const b = await node();
      const [on] = await repo.setMaintenance([a.id], true, 'fan replaced');
      expect(on).toMatchObject({ id: a.id, uuid: a.uuid, maintenance: true, maintenance_reason: 'fan replaced' });
      expect(on.maintenance_at).toBeInstanceOf(Date);
      expect(Math.abs(on.maintenance_at!.getTime() - Date.now())).toBeLessThan(60_000);
      const [again] = await repo.setMaintenance([a.id], true, 'waiting for a DIMM');
      expect(again.maintenance_reason).toBe('waiting for a DIMM');
      expect(again.maintenance_at).toEqual(on.maintenance_at);
      expect(await repo.inMaintenance()).toEqual(new Map([[a.uuid, 'waiting for a DIMM']]));

      const off = await repo.setMaintenance([a.id, b.id], false);
      expect(off.map((r) => [r.id, r.maintenance, r.maintenance_reason, r.maintenance_at])).toEqual([
        [a.id, false, null, null],
        [b.id, false, null, null],
      ]);
      expect(await repo.inMaintenance()).toEqual(new Map());
      const events = (await ds.query(
        `SELECT node_id, source, kind, detail FROM bm_node_events WHERE node_id = ANY($1) ORDER BY node_id, id`,
        [[a.id, b.id]],
      )) as unknown[];
      expect(events).toEqual([
        { node_id: a.id, source: 'bmctl', kind: 'node.maintenance', detail: 'maintenance on: fan replaced' },
        { node_id: a.id, source: 'bmctl', kind: 'node.maintenance', detail: 'maintenance on: waiting for a DIMM' },
        { node_id: a.id, source: 'bmctl', kind: 'node.maintenance', detail: 'maintenance off' },
        { node_id: b.id, source: 'bmctl', kind: 'node.maintenance', detail: 'maintenance off' },
      ]);
    });

    it('changes updated_at (compute reports again) and skips deleted or unknown ids', async () => {
      const a = await node();
      const dead = await node({ deleted: true, pm_address: null });
      const before = await repo.fingerprint('cn1');
      expect((await repo.setMaintenance([a.id, dead.id, 999_999], true)).map((r) => r.id)).toEqual([a.id]);
      expect(await repo.fingerprint('cn1')).not.toBe(before);
      await repo.setMaintenance([a.id], false);
    });

    it('is reported to compute, and the claim refuses the node (nothing changed)', async () => {
      await ds.query(`UPDATE bm_nodes SET deleted = true WHERE service_host = 'cn3'`);
      const a = await node({ service_host: 'cn3' });
      await repo.setMaintenance([a.id], true, 'BMC firmware');
      expect((await repo.resourceRows('cn3')).map((r) => [r.uuid, r.maintenance])).toEqual([[a.uuid, true]]);
      const instance = randomUUID();
      const e = await repo.associate(a.uuid!, 'cn3', instance, 'vm').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NodeInMaintenance);
      expect((e as Error).message).toBe(`Node ${a.uuid} is in maintenance (BMC firmware): not claimed`);
      expect(await repo.read(a.id)).toEqual({ id: a.id, task_state: null, instance_uuid: null });
      await repo.setMaintenance([a.id], false);
      expect(await repo.associate(a.uuid!, 'cn3', instance, 'vm')).toMatchObject({ task_state: 'building' });
    });

    it('a reason without maintenance is a programming error', async () => {
      await expect(repo.setMaintenance([1], false, 'why')).rejects.toThrow(RangeError);
    });
  });

  describe('macClashes', () => {
    it('names other live nodes holding a MAC of the node, case-insensitively; deleted nodes do not count', async () => {
      const a = await node({}, undefined, 0);
      const b = await node({}, undefined, 0);
      const dead = await node({ deleted: true, pm_address: null }, undefined, 0);
      const ifaces = ds.getRepository(BmInterface);
      await ifaces.save({ bm_node_id: a.id, address: '52:54:00:aa:00:01', deleted: false });
      await ifaces.save({ bm_node_id: a.id, address: '52:54:00:aa:00:02', deleted: false });
      expect(await repo.macClashes(a.id)).toEqual([]);
      // A legacy row written in capitals slips past the unique index on address.
      await ifaces.save({ bm_node_id: b.id, address: '52:54:00:AA:00:02', deleted: false });
      await ifaces.save({ bm_node_id: dead.id, address: '52:54:00:AA:00:01', deleted: false });
      expect(await repo.macClashes(a.id)).toEqual([{ address: '52:54:00:aa:00:02', node_id: b.id }]);
    });
  });

  describe('migration 019', () => {
    it('down drops the columns; up gives every node maintenance false', async () => {
      const other = await createScratchDatabase();
      const ds2 = await openDataSource(other.url);
      try {
        await syncSchema(ds2, 18);
        await ds2.query(`INSERT INTO bm_nodes (uuid, deleted) VALUES ($1, false)`, [randomUUID()]);
        expect(await syncSchema(ds2, 19)).toEqual({ from: 18, to: 19 });
        expect(await ds2.query(`SELECT maintenance, maintenance_reason, maintenance_at FROM bm_nodes`)).toEqual([
          { maintenance: false, maintenance_reason: null, maintenance_at: null },
        ]);
        await syncSchema(ds2, 18);
        expect(await schemaVersion(ds2)).toBe(18);
        const cols = (await ds2.query(
          `SELECT column_name FROM information_schema.columns WHERE table_name = 'bm_nodes' AND column_name LIKE 'maint%'`,
        )) as unknown[];
        expect(cols).toEqual([]);
      } finally {
        await ds2.destroy();
        await other.drop();
      }
    });
  });
});
