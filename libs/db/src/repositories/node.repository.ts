import type { DataSource } from 'typeorm';
import {
  ALLOWED,
  AmbiguousInstance,
  type BmTaskState,
  BmState,
  InstanceAlreadyAssociated,
  InstanceNotFound,
  InvalidParameterValue,
  NodeAssociated,
  type NodeEvent,
  NodeInMaintenance,
  NodeNotFound,
  NodeStateChanged,
  type ReportedNode,
  allowedFrom,
  nodeKey,
  endsDeploy,
  eventActor,
  releasesNode,
  transition,
} from '@bm/domain';
import { BmNode } from '../entities/bm-node.entity';
import { PASSWORD_KEY_OPTION, PasswordKeyError, PasswordVault } from '../password-vault';
import { LIVE_INSTANCE_INDEX } from '../migrations/018-live-node-uniqueness';
import { NOW_UTC, SqlParams } from './sql';

/** What a state change returns and what a spawn polls: the row's state and owner. */
export interface NodeStateRow {
  id: number;
  task_state: BmTaskState;
  instance_uuid: string | null;
}

/** Fields an event may write beside task_state (never with an event that releases the node). */
export interface NodeEventFields {
  deploy_key?: string;
  pxe_config_path?: string;
  preserve_ephemeral?: boolean;
}

/** The node carrying an instance, as compute's destroy/reboot/power/info read it. */
export interface InstanceNode {
  id: number;
  /** Set by enrollment on every node. */
  uuid: string;
  task_state: BmTaskState;
  cpus: number;
  memory_mb: number;
}

/** A spawn that was under way when compute stopped (resumeInterrupted). */
export interface InterruptedSpawn {
  id: number;
  uuid: string;
  instance_uuid: string;
  instance_name: string | null;
  task_state: BmTaskState;
  /** Milliseconds since the row last changed (coalesce(updated_at, created_at)), by the database's clock. */
  ago_ms: number;
}

/** An instance as bmctl shows it: the live node carrying it. */
export interface InstanceRow {
  instance_uuid: string;
  instance_name: string | null;
  task_state: BmTaskState;
  node_id: number;
  node_uuid: string;
  service_host: string;
  cpus: number;
  memory_mb: number;
  local_gb: number;
  updated_at: Date | null;
}

/** A node's BMC and credentials, for one power call (never cached, never logged). */
export interface PowerTargetRow {
  id: number;
  uuid: string;
  pm_address: string;
  pm_user: string;
  pm_password: string;
}

/** What the DHCP responder answers: an enrolled MAC and its node. */
export interface EnrolledMac {
  address: string;
  node_id: number;
}

/** The flavor's disk as the deploy partitions it (the seed's cached flavor values in bm_nodes). */
export interface DeployDisk {
  root_mb: number;
  /** The flavor's swap, at least 1 (the seed's minimum). */
  swap_mb: number;
  ephemeral_mb: number;
}

/** What a spawn records once netboot has prepared the node (recordDeploy). */
export interface DeployFields {
  deploy_key: string;
  pxe_config_path: string;
  /** The instance image's id (the seed kept the image's local path here). */
  image_path: string;
  /** The flavor's disk; absent (a rebuild without a flavor): the values of the first deploy stay. */
  disk?: DeployDisk;
}

/** What the deploy callback checks and the deploy needs of a node (deployTarget). */
export interface DeployTargetRow {
  id: number;
  uuid: string | null;
  service_host: string | null;
  instance_uuid: string | null;
  task_state: BmTaskState;
  /** Never logged or put on the bus. */
  deploy_key: string | null;
  image_path: string | null;
  pxe_config_path: string | null;
  root_mb: number | null;
  swap_mb: number | null;
  ephemeral_mb: number | null;
  preserve_ephemeral: boolean | null;
  local_gb: number | null;
}

/** What `bmctl node maintenance` changed of one node. */
export interface MaintenanceRow {
  id: number;
  uuid: string;
  maintenance: boolean;
  maintenance_reason: string | null;
  maintenance_at: Date | null;
}

/** The keys `bmctl node list --sort` takes. */
export const NODE_SORT_KEYS = [
  'id',
  'uuid',
  'cpus',
  'memory_mb',
  'local_gb',
  'task_state',
  'power_state',
  'updated_at',
] as const;
export type NodeSortKey = (typeof NODE_SORT_KEYS)[number];

/**
 * Each sort key's SQL over a node alias and its bm_node_power alias, and the value that stands
 * for its NULL in the paging comparison (NULL rows are ordered apart, by the IS NULL flag first).
 */
const SORT_SQL: Record<NodeSortKey, { expr: (n: string, p: string) => string; none: string }> = {
  id: { expr: (n) => `${n}.id`, none: '0' },
  uuid: { expr: (n) => `${n}.uuid`, none: `''` },
  cpus: { expr: (n) => `${n}.cpus`, none: '0' },
  memory_mb: { expr: (n) => `${n}.memory_mb`, none: '0' },
  local_gb: { expr: (n) => `${n}.local_gb`, none: '0' },
  task_state: { expr: (n) => `${n}.task_state`, none: `''` },
  power_state: { expr: (_n, p) => `${p}.power_state`, none: `''` },
  // A node never changed since its enrollment has no updated_at: its creation is its last change.
  updated_at: { expr: (n) => `coalesce(${n}.updated_at, ${n}.created_at)`, none: `'epoch'::timestamp` },
};

/** `bmctl node list`'s filters, order and page. */
export interface NodeListQuery {
  /** Only the nodes of this compute host. */
  host?: string;
  /** Only this task_state; `none`: no instance's state (NULL, or `deleted` once released). */
  state?: string;
  maintenance?: boolean;
  /** Carrying an instance (true) or free (false). */
  associated?: boolean;
  /** Default: id ascending. */
  sort?: { key: NodeSortKey; dir: 'asc' | 'desc' };
  /** At most this many rows (0 or absent: all). */
  limit?: number;
  /** The uuid of the last node of the previous page. */
  marker?: string;
}

/** A node as `bmctl node list` shows it: never its password, only whether one is stored. */
export interface NodeListRow {
  id: number;
  uuid: string | null;
  service_host: string | null;
  cpus: number | null;
  memory_mb: number | null;
  local_gb: number | null;
  cpu_arch: string | null;
  pm_address: string | null;
  pm_user: string | null;
  pm_password_set: boolean;
  terminal_port: number | null;
  instance_uuid: string | null;
  instance_name: string | null;
  task_state: string | null;
  maintenance: boolean;
  maintenance_reason: string | null;
  maintenance_at: Date | null;
  /** What the power sync last saw: on, off, or null (never seen). */
  power_state: string | null;
  /** The power sync's last error (null once a check succeeds). */
  power_error: string | null;
  power_checked_at: Date | null;
  created_at: Date | null;
  updated_at: Date | null;
  macs: string[];
}

const STATE_COLUMNS = 'id, task_state, instance_uuid';
/** PostgreSQL's SQLSTATE for a unique violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * `update` (an UPDATE of bm_nodes … RETURNING STATE_COLUMNS for `event`) and, in the same
 * statement, the state change on the node's timeline (kind `state`, by the service that applies
 * the event): a state change is never without its event, nor an event without its change.
 */
function withStateEvent(update: string, event: NodeEvent, instanceUuid: string, p: SqlParams, why?: string): string {
  const detail = `${ALLOWED[event].to ?? 'NULL'} (${event})${why ? `: ${why}` : ''}`;
  return `WITH moved AS (${update}),
    logged AS (INSERT INTO bm_node_events (node_id, at, source, kind, detail, instance_uuid)
      SELECT id, ${NOW_UTC}, ${p.add(eventActor(event))}, 'state', ${p.add(detail)}, ${p.add(instanceUuid)}
        FROM moved)
    SELECT ${STATE_COLUMNS} FROM moved`;
}

/** What releasing a node clears, beside task_state (as Nova's destroy and spawn cleanup did). */
const RELEASE_SET = `instance_uuid = NULL, instance_name = NULL, deploy_key = NULL, image_path = NULL,
  pxe_config_path = NULL, root_mb = 0, swap_mb = 0`;

const INSTANCE_SQL = `SELECT instance_uuid, instance_name, task_state, id AS node_id, uuid AS node_uuid, service_host,
       cpus, memory_mb, local_gb, updated_at
  FROM bm_nodes WHERE deleted = false AND instance_uuid IS NOT NULL`;

/**
 * `task_state` among the states `event` may start from (derived from ALLOWED). NULL is a real
 * state, which `= ANY` cannot match, hence the second arm.
 */
function fromStates(event: NodeEvent, p: SqlParams): string {
  const from = allowedFrom(event);
  const named = from.filter((s): s is Exclude<BmTaskState, null> => s !== null);
  const allowsNull = from.includes(BmState.NULL);
  return `(task_state = ANY(${p.add(named)}::varchar[]) OR (task_state IS NULL AND ${p.add(allowsNull)}::boolean))`;
}

/** The SET list of `event`: its target state, the release or the given fields, updated_at. */
function eventSet(event: NodeEvent, fields: NodeEventFields, p: SqlParams): string {
  const sets = [`task_state = ${p.add(ALLOWED[event].to)}`];
  if (releasesNode(event)) {
    if (Object.values(fields).some((v) => v !== undefined))
      throw new RangeError(`event ${event} releases the node: it cannot set ${Object.keys(fields).join(', ')}`);
    sets.push(RELEASE_SET);
  } else {
    if (endsDeploy(event)) sets.push('deploy_key = NULL'); // used once: a replayed callback finds no key
    if (fields.deploy_key !== undefined) sets.push(`deploy_key = ${p.add(fields.deploy_key)}`);
    if (fields.pxe_config_path !== undefined) sets.push(`pxe_config_path = ${p.add(fields.pxe_config_path)}`);
    if (fields.preserve_ephemeral !== undefined) sets.push(`preserve_ephemeral = ${p.add(fields.preserve_ephemeral)}`);
  }
  sets.push(`updated_at = ${NOW_UTC}`);
  return sets.join(', ');
}

/** What `bmctl db re-encrypt` did to the stored BMC passwords. */
export interface PasswordReencryption {
  /** Clear values sealed. */
  sealed: number;
  /** Values sealed with the old key, sealed again with the current one. */
  rekeyed: number;
  /** Already sealed with the current key. */
  unchanged: number;
  /** Passwords of soft-deleted nodes removed (deleted nodes keep no secret). */
  scrubbed: number;
}

/**
 * `bm_nodes`: every read the services make of the nodes, and the only writer of `task_state`.
 * Each write is one conditional UPDATE (state allowed by the state machine, row still this
 * instance's), so a stale or racing writer changes nothing; when nothing changed, the row is
 * read again to raise the error that says why.
 */
export class NodeRepository {
  constructor(
    private readonly ds: DataSource,
    /** Opens the stored BMC passwords (the only reader of them). */
    private readonly passwords: PasswordVault = PasswordVault.none(),
  ) {}

  /**
   * Nova's bm_node_associate_and_update: claims the free node `nodeUuid` of `host` for an
   * instance (task_state building, preserve_ephemeral false). Of two racing claims exactly one
   * wins; the other gets NodeAssociated. An instance already on another live node gets
   * InstanceAlreadyAssociated (a unique index, migration 018, decides even between racing claims).
   */
  async associate(nodeUuid: string, host: string, instanceUuid: string, instanceName: string): Promise<NodeStateRow> {
    const p = new SqlParams();
    const update = `UPDATE bm_nodes
        SET instance_uuid = ${p.add(instanceUuid)}, instance_name = ${p.add(instanceName)},
            task_state = ${p.add(ALLOWED.associate.to)}, preserve_ephemeral = false, updated_at = ${NOW_UTC}
      WHERE uuid = ${p.add(nodeUuid)} AND service_host = ${p.add(host)} AND deleted = false
        AND instance_uuid IS NULL AND maintenance = false AND ${fromStates('associate', p)}
      RETURNING ${STATE_COLUMNS}`;
    const rows: NodeStateRow[] = await this.ds
      .query(withStateEvent(update, 'associate', instanceUuid, p), p.values)
      .catch((e: unknown) => this.refuseSecondNode(e, instanceUuid, nodeUuid));
    if (rows.length === 1) return rows[0];
    const [row]: (NodeStateRow & { maintenance: boolean; maintenance_reason: string | null })[] = await this.ds.query(
      `SELECT ${STATE_COLUMNS}, maintenance, maintenance_reason FROM bm_nodes
        WHERE uuid = $1 AND service_host = $2 AND deleted = false`,
      [nodeUuid, host],
    );
    if (!row) throw new NodeNotFound(nodeUuid);
    if (row.instance_uuid !== null)
      throw new NodeAssociated(`Node ${nodeUuid} is associated with instance ${row.instance_uuid}`);
    if (row.maintenance)
      throw new NodeInMaintenance(
        `Node ${nodeUuid} is in maintenance${row.maintenance_reason ? ` (${row.maintenance_reason})` : ''}: not claimed`,
      );
    transition(row.task_state, 'associate'); // throws InvalidNodeStateTransition naming the state
    throw new NodeStateChanged(`Node ${nodeUuid} changed while it was being claimed`);
  }

  /**
   * The claim broke migration 018's one-live-node-per-instance index: the instance is on another
   * node already (a second, racing build of it). Any other error passes through.
   */
  private async refuseSecondNode(e: unknown, instanceUuid: string, nodeUuid: string): Promise<never> {
    if (
      (e as { code?: string }).code !== UNIQUE_VIOLATION ||
      (e as { constraint?: string }).constraint !== LIVE_INSTANCE_INDEX
    )
      throw e;
    const [other]: { uuid: string | null; id: number }[] = await this.ds.query(
      `SELECT id, uuid FROM bm_nodes
        WHERE instance_uuid = $1 AND deleted = false AND task_state IS DISTINCT FROM 'error'`,
      [instanceUuid],
    );
    throw new InstanceAlreadyAssociated(
      `Instance ${instanceUuid} is already on node ${other?.uuid ?? other?.id ?? '(released meanwhile)'}: not claiming node ${nodeUuid} too`,
    );
  }

  /**
   * Applies `event` to node `id` while it carries `instanceUuid` and is in a state the event
   * may start from; a releasing event (cleaned, destroyed) also clears the association.
   * Throws NodeNotFound, InstanceNotFound (the node is not this instance's),
   * InvalidNodeStateTransition or NodeStateChanged (the row changed under the call).
   */
  async transition(
    id: number,
    instanceUuid: string,
    event: NodeEvent,
    fields: NodeEventFields = {},
    /** Why, for the timeline (a failure's reason). */
    why?: string,
  ): Promise<NodeStateRow> {
    const p = new SqlParams();
    const set = eventSet(event, fields, p);
    const update = `UPDATE bm_nodes SET ${set}
      WHERE id = ${p.add(id)} AND instance_uuid = ${p.add(instanceUuid)} AND deleted = false AND ${fromStates(event, p)}
      RETURNING ${STATE_COLUMNS}`;
    const rows: NodeStateRow[] = await this.ds.query(withStateEvent(update, event, instanceUuid, p, why), p.values);
    if (rows.length === 1) return rows[0];
    const row = await this.read(id);
    if (!row) throw new NodeNotFound(id);
    if (row.instance_uuid !== instanceUuid) throw new InstanceNotFound(instanceUuid);
    transition(row.task_state, event); // throws InvalidNodeStateTransition naming the state
    throw new NodeStateChanged(`Node ${id} changed while ${event} was applied for instance ${instanceUuid}`);
  }

  /**
   * `transition` for the live node of `host` carrying `instanceUuid` (rebuild: event 'rebuild'
   * with preserve_ephemeral). InstanceNotFound when no such node.
   */
  async transitionInstance(
    instanceUuid: string,
    host: string,
    event: NodeEvent,
    fields: NodeEventFields = {},
  ): Promise<NodeStateRow> {
    const node = await this.instanceNode(instanceUuid, host);
    return this.transition(node.id, instanceUuid, event, fields);
  }

  /**
   * The spawn's deploy fields (PXE config written, deploy key issued, the instance image's id in
   * image_path, as the seed kept the image's place there, and the flavor's root/swap/ephemeral
   * sizes, as activate_bootloader cached them), task_state untouched:
   * only while node `id` is this instance's and `building`, else NodeStateChanged.
   */
  async recordDeploy(id: number, instanceUuid: string, fields: DeployFields): Promise<void> {
    const p = new SqlParams();
    const sets = [
      `deploy_key = ${p.add(fields.deploy_key)}`,
      `pxe_config_path = ${p.add(fields.pxe_config_path)}`,
      `image_path = ${p.add(fields.image_path)}`,
    ];
    if (fields.disk)
      sets.push(
        `root_mb = ${p.add(fields.disk.root_mb)}`,
        `swap_mb = ${p.add(fields.disk.swap_mb)}`,
        `ephemeral_mb = ${p.add(fields.disk.ephemeral_mb)}`,
      );
    const [, n]: [unknown[], number] = await this.ds.query(
      `UPDATE bm_nodes SET ${sets.join(', ')}, updated_at = ${NOW_UTC}
        WHERE id = ${p.add(id)} AND instance_uuid = ${p.add(instanceUuid)} AND deleted = false
          AND task_state = ${p.add(BmState.BUILDING)}`,
      p.values,
    );
    if (n !== 1)
      throw new NodeStateChanged(
        `Node ${id} is no longer '${BmState.BUILDING}' for instance ${instanceUuid}: deploy fields not recorded`,
      );
  }

  /** The live node `id`'s state and owner; undefined when there is none. */
  async read(id: number): Promise<NodeStateRow | undefined> {
    const [row]: NodeStateRow[] = await this.ds.query(
      `SELECT ${STATE_COLUMNS} FROM bm_nodes WHERE id = $1 AND deleted = false`,
      [id],
    );
    return row;
  }

  /**
   * The live node of `host` carrying `instanceUuid` (Nova: "sent to wrong service host" →
   * InstanceNotFound). A node left in error by the instance's failed spawn may still name it
   * beside the node it was rescheduled to: that other node is the instance's.
   */
  async instanceNode(instanceUuid: string, host: string): Promise<InstanceNode> {
    const [n]: InstanceNode[] = await this.ds.query(
      `SELECT id, uuid, task_state, cpus, memory_mb FROM bm_nodes
        WHERE instance_uuid = $1 AND service_host = $2 AND deleted = false
        ORDER BY task_state IS NOT DISTINCT FROM 'error', id LIMIT 1`,
      [instanceUuid, host],
    );
    if (!n) throw new InstanceNotFound(instanceUuid);
    return n;
  }

  /** The nodes of `host` carrying an instance in one of `states`, with how long ago each last changed. */
  async interruptedSpawns(host: string, states: readonly BmTaskState[]): Promise<InterruptedSpawn[]> {
    const rows: InterruptedSpawn[] = await this.ds.query(
      `SELECT id, uuid, instance_uuid, instance_name, task_state,
              greatest(0, extract(epoch FROM (${NOW_UTC} - coalesce(updated_at, created_at))) * 1000)::float8 AS ago_ms
         FROM bm_nodes
        WHERE service_host = $1 AND deleted = false AND instance_uuid IS NOT NULL AND task_state = ANY($2)
        ORDER BY id`,
      [host, states],
    );
    return rows.map((r) => ({ ...r, ago_ms: Number(r.ago_ms) }));
  }

  /** BareMetalDriver.list_instances: the instances on `host`'s nodes (name, else uuid), by node id. */
  async instanceNames(host: string): Promise<string[]> {
    const rows: { instance_name: string | null; instance_uuid: string }[] = await this.ds.query(
      `SELECT instance_name, instance_uuid FROM bm_nodes
        WHERE service_host = $1 AND deleted = false AND instance_uuid IS NOT NULL ORDER BY id`,
      [host],
    );
    return rows.map((r) => r.instance_name ?? r.instance_uuid);
  }

  /** Every instance on a live node of any host, by node id (or only `instanceUuid`'s). */
  async instances(filter: { instanceUuid?: string } = {}): Promise<InstanceRow[]> {
    if (filter.instanceUuid !== undefined)
      return this.ds.query(`${INSTANCE_SQL} AND instance_uuid = $1 ORDER BY id`, [filter.instanceUuid]);
    return this.ds.query(`${INSTANCE_SQL} ORDER BY id`);
  }

  /** One instance by uuid or name: InstanceNotFound, or AmbiguousInstance when several carry the name. */
  async findInstance(ref: string): Promise<InstanceRow> {
    const rows: InstanceRow[] = await this.ds.query(
      `${INSTANCE_SQL} AND (instance_uuid = $1 OR instance_name = $1) ORDER BY id`,
      [ref],
    );
    if (rows.length === 0) throw new InstanceNotFound(ref);
    if (rows.length > 1) throw new AmbiguousInstance(ref, rows.length);
    return rows[0];
  }

  /** The live nodes of `host` with a uuid, as the resource report reads them, by id. */
  resourceRows(host: string): Promise<ReportedNode[]> {
    return this.ds.query(
      `SELECT uuid, cpus, memory_mb, local_gb, cpu_arch, instance_uuid, maintenance FROM bm_nodes
        WHERE deleted = false AND service_host = $1 AND uuid IS NOT NULL ORDER BY id`,
      [host],
    );
  }

  /** The live nodes in maintenance, of every host: uuid → the operator's reason (the scheduler's skip list). */
  async inMaintenance(): Promise<Map<string, string | null>> {
    const rows: { uuid: string; maintenance_reason: string | null }[] = await this.ds.query(
      `SELECT uuid, maintenance_reason FROM bm_nodes WHERE maintenance AND deleted = false AND uuid IS NOT NULL`,
    );
    return new Map(rows.map((r) => [r.uuid, r.maintenance_reason]));
  }

  /**
   * Puts the live nodes `ids` in maintenance (`on`, with the operator's `reason`) or takes them
   * out, each change on the node's timeline (source bmctl, kind node.maintenance) in the same
   * statement. A node already in maintenance keeps the time it went in and gets the new reason.
   * Returns the nodes changed (ids that name no live node are left out), by id.
   */
  async setMaintenance(ids: readonly number[], on: boolean, reason: string | null = null): Promise<MaintenanceRow[]> {
    if (on === false && reason !== null) throw new RangeError('a node taken out of maintenance has no reason');
    const p = new SqlParams();
    const detail = on ? `maintenance on${reason ? `: ${reason}` : ''}` : 'maintenance off';
    const flag = p.add(on);
    const rows: MaintenanceRow[] = await this.ds.query(
      `WITH changed AS (
         UPDATE bm_nodes SET maintenance = ${flag}, maintenance_reason = ${p.add(reason)},
                maintenance_at = CASE WHEN NOT ${flag} THEN NULL WHEN maintenance THEN maintenance_at ELSE ${NOW_UTC} END,
                updated_at = ${NOW_UTC}
          WHERE id = ANY(${p.add([...ids])}::int[]) AND deleted = false
          RETURNING id, uuid, maintenance, maintenance_reason, maintenance_at),
       logged AS (INSERT INTO bm_node_events (node_id, at, source, kind, detail)
          SELECT id, ${NOW_UTC}, 'bmctl', 'node.maintenance', ${p.add(detail)} FROM changed)
       SELECT * FROM changed ORDER BY id`,
      p.values,
    );
    return rows;
  }

  /**
   * The live nodes as `bmctl node list` shows them, with what the power sync last saw
   * (bm_node_power) and their MACs: filtered, sorted and paged in SQL. Paging is by marker as
   * OpenStack's APIs page: the rows after the node whose uuid is `marker`, in the same order.
   * NULLs sort last in either direction; ties are broken by id (in the same direction).
   */
  async list(q: NodeListQuery = {}): Promise<NodeListRow[]> {
    const p = new SqlParams();
    const where = ['n.deleted = false'];
    if (q.host !== undefined) where.push(`n.service_host = ${p.add(q.host)}`);
    if (q.state === 'none') where.push(`(n.task_state IS NULL OR n.task_state = ${p.add(BmState.DELETED)})`);
    else if (q.state !== undefined) where.push(`n.task_state = ${p.add(q.state)}`);
    if (q.maintenance !== undefined) where.push(`n.maintenance = ${p.add(q.maintenance)}`);
    if (q.associated !== undefined) where.push(`n.instance_uuid IS ${q.associated ? 'NOT ' : ''}NULL`);
    const sort = q.sort ?? { key: 'id', dir: 'asc' };
    const key = SORT_SQL[sort.key];
    if (!key) throw new InvalidParameterValue([{ field: 'sort', message: `cannot sort by ${String(sort.key)}` }]);
    const dir = sort.dir === 'desc' ? 'DESC' : 'ASC';
    let markerJoin = '';
    if (q.marker !== undefined) {
      const found: unknown[] = await this.ds.query(`SELECT 1 FROM bm_nodes WHERE uuid = $1 AND deleted = false`, [
        q.marker,
      ]);
      if (!found.length)
        throw new InvalidParameterValue([{ field: 'marker', message: `no live node has uuid ${q.marker}` }]);
      // The marker's own sort key, read in the same statement (a timestamp sent back from here
      // would lose its microseconds and the comparison with it).
      markerJoin = `CROSS JOIN (SELECT ${key.expr('m', 'mp')} AS k, m.id FROM bm_nodes m
          LEFT JOIN bm_node_power mp ON mp.node_id = m.id WHERE m.uuid = ${p.add(q.marker)} AND m.deleted = false) mk`;
      const k = key.expr('n', 'p');
      const op = dir === 'ASC' ? '>' : '<';
      const kc = `coalesce(${k}, ${key.none})`;
      const mc = `coalesce(mk.k, ${key.none})`;
      where.push(`(((${k}) IS NULL)::int > ((mk.k) IS NULL)::int
        OR (((${k}) IS NULL) = ((mk.k) IS NULL) AND (${kc} ${op} ${mc} OR (${kc} = ${mc} AND n.id ${op} mk.id))))`);
    }
    const limit = q.limit ? `LIMIT ${p.add(q.limit)}` : '';
    const k = key.expr('n', 'p');
    const rows: NodeListRow[] = await this.ds.query(
      `SELECT n.id, n.uuid, n.service_host, n.cpus, n.memory_mb, n.local_gb, n.cpu_arch, n.pm_address, n.pm_user,
              n.pm_password IS NOT NULL AS pm_password_set, n.terminal_port, n.instance_uuid, n.instance_name,
              n.task_state, n.maintenance, n.maintenance_reason, n.maintenance_at,
              p.power_state, p.error AS power_error, p.checked_at AS power_checked_at,
              n.created_at, n.updated_at,
              coalesce((SELECT array_agg(i.address ORDER BY i.id) FROM bm_interfaces i
                         WHERE i.bm_node_id = n.id AND i.address IS NOT NULL), '{}') AS macs
         FROM bm_nodes n LEFT JOIN bm_node_power p ON p.node_id = n.id ${markerJoin}
        WHERE ${where.join(' AND ')}
        ORDER BY (${k}) IS NULL, ${k} ${dir}, n.id ${dir}
        ${limit}`,
      p.values,
    );
    return rows;
  }

  /**
   * Other live nodes holding a MAC of node `id` (compared case-insensitively): none where the
   * enrollment's checks held. What `bmctl node validate` reports.
   */
  macClashes(id: number): Promise<{ address: string; node_id: number }[]> {
    return this.ds.query(
      `SELECT i.address, o.bm_node_id AS node_id
         FROM bm_interfaces i
         JOIN bm_interfaces o ON lower(o.address) = lower(i.address) AND o.id <> i.id
         JOIN bm_nodes n ON n.id = o.bm_node_id AND n.deleted = false
        WHERE i.bm_node_id = $1
        ORDER BY i.id, o.bm_node_id`,
      [id],
    );
  }

  /**
   * Count, newest id, last change and deletions of `host`'s nodes (deleted ones included): any
   * enrollment, edit or delete changes it, so compute reports again.
   */
  async fingerprint(host: string): Promise<string> {
    const [f]: { n: string; id: string; at: string; gone: string }[] = await this.ds.query(
      `SELECT count(*)::text AS n, coalesce(max(id), 0)::text AS id, coalesce(max(updated_at)::text, '') AS at,
              coalesce(sum(CASE WHEN deleted THEN 1 ELSE 0 END), 0)::text AS gone
         FROM bm_nodes WHERE service_host = $1`,
      [host],
    );
    return `${f.n}/${f.id}/${f.at}/${f.gone}`;
  }

  /** The MACs enrolled on `host`'s live nodes, with their node (what the DHCP responder answers). */
  enrolledMacs(host: string): Promise<EnrolledMac[]> {
    return this.ds.query(
      `SELECT i.address, n.id AS node_id FROM bm_interfaces i JOIN bm_nodes n ON n.id = i.bm_node_id
        WHERE n.deleted = false AND n.service_host = $1 AND i.address IS NOT NULL ORDER BY i.id`,
      [host],
    );
  }

  /** A live node with a BMC, by id or UUID; NodeNotFound otherwise. */
  async powerTarget(ref: string | number): Promise<PowerTargetRow> {
    const text = String(ref).trim();
    const where = nodeKey(text);
    const n = where ? await this.ds.getRepository(BmNode).findOne({ where: { ...where, deleted: false } }) : null;
    if (!n || !n.pm_address) throw new NodeNotFound(text);
    return this.toPowerTarget(n);
  }

  /**
   * What the power sync polls: every live node of `host` that has a BMC and is not in
   * maintenance, by id. A node is often put in maintenance because its BMC misbehaves; polling
   * it would only fill the log and the timeline with failures (as Ironic's sync skips it too).
   * Explicit power calls still reach it, and still update its power record.
   */
  async powerTargets(host: string): Promise<PowerTargetRow[]> {
    const nodes = await this.ds
      .getRepository(BmNode)
      .find({ where: { service_host: host, deleted: false, maintenance: false }, order: { id: 'ASC' } });
    return nodes.filter((n) => n.pm_address).map((n) => this.toPowerTarget(n));
  }

  private toPowerTarget(n: BmNode): PowerTargetRow {
    return {
      id: n.id,
      uuid: n.uuid ?? '',
      pm_address: n.pm_address ?? '',
      pm_user: n.pm_user ?? '',
      pm_password: n.pm_password === null ? '' : this.passwords.open(n.pm_password, n.id),
    };
  }

  /**
   * Seals every live node's BMC password with this repository's key: clear values, and values
   * sealed with `previous` (a key rotation); removes the password of every soft-deleted node. One
   * transaction: a value that no key opens (PasswordKeyError naming the node) changes nothing.
   */
  async reencryptPasswords(previous?: PasswordVault): Promise<PasswordReencryption> {
    if (this.passwords.keyId === undefined)
      throw new PasswordKeyError(`set ${PASSWORD_KEY_OPTION} to the key to encrypt the BMC passwords with`);
    return this.ds.transaction(async (tx) => {
      const report: PasswordReencryption = { sealed: 0, rekeyed: 0, unchanged: 0, scrubbed: 0 };
      const [, scrubbed]: [unknown, number] = await tx.query(
        `UPDATE bm_nodes SET pm_password = NULL WHERE deleted = true AND pm_password IS NOT NULL`,
      );
      report.scrubbed = scrubbed;
      const rows: { id: number; pm_password: string }[] = await tx.query(
        `SELECT id, pm_password FROM bm_nodes WHERE deleted = false AND pm_password IS NOT NULL ORDER BY id FOR UPDATE`,
      );
      for (const r of rows) {
        const keyId = PasswordVault.sealedWith(r.pm_password);
        if (keyId === this.passwords.keyId) {
          report.unchanged++;
          continue;
        }
        const clear = keyId === undefined ? r.pm_password : (previous ?? this.passwords).open(r.pm_password, r.id);
        await tx.query(`UPDATE bm_nodes SET pm_password = $2 WHERE id = $1`, [r.id, this.passwords.seal(clear)]);
        if (keyId === undefined) report.sealed++;
        else report.rekeyed++;
      }
      return report;
    });
  }

  /** The live node `id` as the deploy callback and the deploy read it; undefined when there is none. */
  async deployTarget(id: number): Promise<DeployTargetRow | undefined> {
    const [row]: DeployTargetRow[] = await this.ds.query(
      `SELECT id, uuid, service_host, instance_uuid, task_state, deploy_key, image_path, pxe_config_path,
              root_mb, swap_mb, ephemeral_mb, preserve_ephemeral, local_gb
         FROM bm_nodes WHERE id = $1 AND deleted = false`,
      [id],
    );
    return row;
  }

  /**
   * The IPv4 addresses the netboot DHCP server reserved for node `nodeId`'s MACs
   * (bm_dhcp_reservations.mac = bm_interfaces.address), released ones included (a MAC keeps its
   * address), sorted; none for an unknown or deleted node.
   */
  async reservedAddresses(nodeId: number): Promise<string[]> {
    const rows: { address: string }[] = await this.ds.query(
      `SELECT DISTINCT r.address FROM bm_dhcp_reservations r
         JOIN bm_interfaces i ON lower(i.address) = lower(r.mac)
         JOIN bm_nodes n ON n.id = i.bm_node_id
        WHERE i.bm_node_id = $1 AND n.deleted = false
        ORDER BY r.address`,
      [nodeId],
    );
    return rows.map((r) => r.address);
  }
}
