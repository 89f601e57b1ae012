import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { LATEST_VERSION, openDataSource, schemaVersion, syncSchema } from '.';

// The Icehouse nova_bm columns (reference §1.1, §1.2) with PostgreSQL types.
const BM_NODES: Record<string, string> = {
  id: 'integer',
  created_at: 'timestamp without time zone',
  updated_at: 'timestamp without time zone',
  deleted_at: 'timestamp without time zone',
  deleted: 'boolean',
  uuid: 'character varying(36)',
  service_host: 'character varying(255)',
  instance_uuid: 'character varying(36)',
  instance_name: 'character varying(255)',
  cpus: 'integer',
  memory_mb: 'integer',
  local_gb: 'integer',
  preserve_ephemeral: 'boolean',
  pm_address: 'text',
  pm_user: 'text',
  pm_password: 'text',
  task_state: 'character varying(255)',
  terminal_port: 'integer',
  image_path: 'character varying(255)',
  pxe_config_path: 'character varying(255)',
  deploy_key: 'character varying(255)',
  root_mb: 'integer',
  swap_mb: 'integer',
  ephemeral_mb: 'integer',
};
const BM_INTERFACES: Record<string, string> = {
  id: 'integer',
  created_at: 'timestamp without time zone',
  updated_at: 'timestamp without time zone',
  deleted_at: 'timestamp without time zone',
  deleted: 'boolean',
  bm_node_id: 'integer',
  address: 'character varying(255)',
  datapath_id: 'character varying(255)',
  port_no: 'integer',
  vif_uuid: 'character varying(36)',
};
// Ours (migration 016): each node's timeline.
const BM_NODE_EVENTS: Record<string, [string, boolean]> = {
  id: ['bigint', false],
  node_id: ['integer', false],
  at: ['timestamp without time zone', false],
  source: ['character varying(32)', false],
  kind: ['character varying(64)', false],
  detail: ['text', false],
  duration_ms: ['integer', true],
  bytes: ['bigint', true],
  instance_uuid: ['character varying(36)', true],
};

async function columns(ds: DataSource, table: string): Promise<Record<string, { type: string; nullable: boolean }>> {
  const rows: { column_name: string; type: string; is_nullable: string }[] = await ds.query(
    `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [table],
  );
  return Object.fromEntries(rows.map((r) => [r.column_name, { type: r.type, nullable: r.is_nullable === 'YES' }]));
}

async function indexes(ds: DataSource, table: string): Promise<Record<string, string>> {
  const rows: { indexname: string; indexdef: string }[] = await ds.query(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1`,
    [table],
  );
  return Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef.replace(/^.* USING btree /, '')]));
}

async function tables(ds: DataSource): Promise<string[]> {
  const rows: { tablename: string }[] = await ds.query(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND (tablename LIKE 'bm_%' OR tablename IN ('compute_nodes', 'flavors')) ORDER BY 1`,
  );
  return rows.map((r) => r.tablename);
}

describe('nova_bm migrations on PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('starts at version 0 and syncs to the latest version', async () => {
    expect(await schemaVersion(ds)).toBe(0);
    expect(await syncSchema(ds)).toEqual({ from: 0, to: LATEST_VERSION });
    expect(await tables(ds)).toEqual([
      'bm_dhcp_reservations',
      'bm_interfaces',
      'bm_node_events',
      'bm_node_power',
      'bm_nodes',
      'compute_nodes',
      'flavors',
    ]);
  });

  it('has the Icehouse columns, all nullable but id, plus our cpu_arch and maintenance columns', async () => {
    const nodes = await columns(ds, 'bm_nodes');
    const { cpu_arch, maintenance, maintenance_reason, maintenance_at, ...nova } = nodes;
    expect(Object.fromEntries(Object.entries(nova).map(([k, v]) => [k, v.type]))).toEqual(BM_NODES);
    expect(cpu_arch.type).toBe('character varying(255)');
    expect([maintenance, maintenance_reason, maintenance_at]).toEqual([
      { type: 'boolean', nullable: false },
      { type: 'text', nullable: true },
      { type: 'timestamp without time zone', nullable: true },
    ]);
    for (const [name, c] of Object.entries({ ...nova, cpu_arch }))
      expect([name, c.nullable]).toEqual([name, name !== 'id']);

    const ifaces = await columns(ds, 'bm_interfaces');
    expect(Object.fromEntries(Object.entries(ifaces).map(([k, v]) => [k, v.type]))).toEqual(BM_INTERFACES);
  });

  it('is at version 16 with the node timeline table, its index and its foreign key', async () => {
    expect(LATEST_VERSION).toBe(19);
    expect(await schemaVersion(ds)).toBe(19);
    const events = await columns(ds, 'bm_node_events');
    expect(Object.fromEntries(Object.entries(events).map(([k, v]) => [k, [v.type, v.nullable]]))).toEqual(
      BM_NODE_EVENTS,
    );
    expect(await indexes(ds, 'bm_node_events')).toEqual({
      bm_node_events_pkey: '(id)',
      idx_bm_node_events_node_id_at_id: '(node_id, at, id)',
    });
    const fk: { def: string }[] = await ds.query(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'bm_node_events_node_id_fkey'`,
    );
    expect(fk.map((f) => f.def)).toEqual(['FOREIGN KEY (node_id) REFERENCES bm_nodes(id)']);
  });

  it('has the indexes and unique constraints of nova_bm', async () => {
    expect(await indexes(ds, 'bm_nodes')).toEqual({
      bm_nodes_pkey: '(id)',
      uuid_ux: '(uuid)',
      idx_bm_nodes_service_host_deleted: '(service_host, deleted)',
      idx_bm_nodes_instance_uuid_deleted: '(instance_uuid, deleted)',
      idx_bm_nodes_hmcld: '(service_host, memory_mb, cpus, local_gb, deleted)',
      deploy_key_idx: '(deploy_key)',
      bm_nodes_live_instance_uuid_ux:
        "(instance_uuid) WHERE ((deleted = false) AND (instance_uuid IS NOT NULL) AND ((task_state)::text IS DISTINCT FROM 'error'::text))",
      bm_nodes_live_pm_address_ux: '(lower(pm_address)) WHERE ((deleted = false) AND (pm_address IS NOT NULL))',
    });
    expect(await indexes(ds, 'bm_interfaces')).toEqual({
      bm_interfaces_pkey: '(id)',
      bm_interfaces_address_key: '(address)',
      bm_interfaces_vif_uuid_key: '(vif_uuid)',
      idx_bm_interfaces_bm_node_id_deleted: '(bm_node_id, deleted)',
    });
    const unique: { indexname: string }[] = await ds.query(
      `SELECT indexname FROM pg_indexes WHERE indexdef LIKE 'CREATE UNIQUE%' AND (tablename LIKE 'bm_%' OR tablename IN ('compute_nodes', 'flavors')) ORDER BY 1`,
    );
    expect(unique.map((u) => u.indexname)).toEqual([
      'bm_dhcp_reservations_address_key',
      'bm_dhcp_reservations_pkey',
      'bm_interfaces_address_key',
      'bm_interfaces_pkey',
      'bm_interfaces_vif_uuid_key',
      'bm_node_events_pkey',
      'bm_node_power_pkey',
      'bm_nodes_live_instance_uuid_ux',
      'bm_nodes_live_pm_address_ux',
      'bm_nodes_pkey',
      'compute_nodes_host_hypervisor_hostname_key',
      'compute_nodes_pkey',
      'flavors_name_key',
      'flavors_pkey',
      'uuid_ux',
    ]);
  });

  it('entities agree with the migrations (TypeORM would change nothing)', async () => {
    const sql = await ds.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('downgrades step by step and back up again', async () => {
    expect(await syncSchema(ds, 15)).toEqual({ from: LATEST_VERSION, to: 15 });
    expect(await tables(ds)).not.toContain('bm_node_events');
    expect(await syncSchema(ds, 10)).toEqual({ from: 15, to: 10 });
    expect(Object.keys(await columns(ds, 'bm_nodes'))).not.toContain('cpu_arch');
    expect(await syncSchema(ds, 0)).toEqual({ from: 10, to: 0 });
    expect(await tables(ds)).toEqual([]);
    expect(await syncSchema(ds, 10)).toEqual({ from: 0, to: 10 });
    expect(await tables(ds)).toEqual(['bm_interfaces', 'bm_nodes']);
    expect(await syncSchema(ds)).toEqual({ from: 10, to: LATEST_VERSION });
  });

  it('18: one live node per instance and per BMC address; a database breaking that is refused, naming the rows', async () => {
    await syncSchema(ds, 17);
    const add = (instance: string | null, bmc: string, deleted = false) =>
      ds.query(`INSERT INTO bm_nodes (instance_uuid, pm_address, deleted) VALUES ($1, $2, $3) RETURNING id`, [
        instance,
        bmc,
        deleted,
      ]) as Promise<{ id: number }[]>;
    const [[a], [b]] = [await add('i-1', '10.0.0.1'), await add('i-1', '10.0.0.2')];
    const [[c], [d]] = [await add(null, '10.0.0.9:623'), await add(null, '10.0.0.9:623'.toUpperCase())];
    await add('i-1', '10.0.0.1', true); // deleted rows do not count
    await ds.query(
      `INSERT INTO bm_nodes (instance_uuid, pm_address, deleted, task_state) VALUES ('i-1', '10.0.0.7', false, 'error')`,
    ); // nor nodes in error
    await expect(syncSchema(ds)).rejects.toThrow(
      `schema version 18 needs each instance and each BMC address on at most one live node: ` +
        `instance i-1 is on live nodes ${a.id}, ${b.id}; BMC 10.0.0.9:623 manages live nodes ${c.id}, ${d.id}.`,
    );
    expect(await schemaVersion(ds)).toBe(17);
    // Resolved: it applies, then holds against both kinds of duplicate, and reverts.
    await ds.query(`UPDATE bm_nodes SET deleted = true WHERE id = ANY($1)`, [[b.id, d.id]]);
    expect(await syncSchema(ds, 18)).toEqual({ from: 17, to: 18 });
    await expect(add('i-1', '10.0.0.3')).rejects.toMatchObject({ constraint: 'bm_nodes_live_instance_uuid_ux' });
    await expect(add(null, '10.0.0.1')).rejects.toMatchObject({ constraint: 'bm_nodes_live_pm_address_ux' });
    await add('i-2', '10.0.0.4');
    // A node left in error by i-2's failed spawn keeps naming it while i-2 is on another node.
    await ds.query(`UPDATE bm_nodes SET task_state = 'error' WHERE instance_uuid = 'i-2'`);
    await add('i-2', '10.0.0.6');
    await expect(add('i-2', '10.0.0.8')).rejects.toMatchObject({ constraint: 'bm_nodes_live_instance_uuid_ux' });
    expect(await syncSchema(ds, 17)).toEqual({ from: 18, to: 17 });
    expect(Object.keys(await indexes(ds, 'bm_nodes'))).not.toContain('bm_nodes_live_instance_uuid_ux');
    await add('i-2', '10.0.0.5'); // no longer refused at 17: two live i-2 nodes besides the one in error
    await ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE');
    expect(await syncSchema(ds)).toEqual({ from: 17, to: LATEST_VERSION });
  });

  it('refuses an unknown target version', async () => {
    await expect(syncSchema(ds, 7)).rejects.toThrow(/unknown schema version 7/);
  });
});
