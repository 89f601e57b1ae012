import { randomUUID } from 'node:crypto';
import { In, type DataSource, type EntityManager } from 'typeorm';
import { BmInterface, BmNode, BmNodeEvent, LIVE_BMC_INDEX, type NovaBmDatabase, PasswordVault } from '@bm/db';
import {
  DuplicateBmc,
  DuplicateMac,
  NodeAssociated,
  type FieldProblem,
  ImportRejected,
  InterfaceNotFound,
  InvalidParameterValue,
  NodeNotFound,
  validateDto,
  nodeKey,
  normalizeMac,
  formatBmcAddress,
  parseBmcAddress,
} from '@bm/domain';
import {
  AddInterfaceDto,
  type NodeInput,
  UNSETTABLE_FIELDS,
  type UnsettableField,
  UpdateNodeDto,
  UPDATABLE_FIELDS,
  validateNode,
} from './node.dto';
import { detectFormat, parseNodeFile } from './node-file';
import { type InterfaceView, type NodeView, interfaceView, nodeView } from './node-view';

export interface ImportOptions {
  /** Name shown in errors (the file path). */
  source: string;
  format?: 'csv' | 'json';
  /** Validate everything, including against the database, and write nothing. */
  dryRun?: boolean;
  /** Rows whose MAC is already enrolled are skipped instead of rejecting the file. */
  skipEnrolled?: boolean;
}

/** What `updateNode` did: the node as it is now, and the fields that changed (never a value of the password). */
export interface NodeUpdate {
  node: NodeView;
  changed: string[];
}

/**
 * The fields a flavor was matched against (and the compute host that owns the instance): while
 * an instance is on the node they are what it was scheduled on, so they stay as they are until
 * the instance is deleted.
 */
const FIXED_WITH_INSTANCE = ['cpus', 'memory_mb', 'local_gb', 'cpu_arch', 'service_host'] as const;

export interface ImportResult {
  dryRun: boolean;
  /** Nodes created (or, in a dry run, that would be created; their id is 0). */
  nodes: NodeView[];
  skipped: { where: string; mac: string; node: number }[];
}

type Locator = { line?: number; entry?: number };
const where = (l: Locator) => (l.line !== undefined ? `line ${l.line}` : `entry ${l.entry}`);

function utcNow(): Date {
  return new Date();
}

/** A PostgreSQL unique violation (a concurrent enrollment of the same MAC). */
function isUniqueViolation(e: unknown): e is { code: string; constraint?: string } {
  return typeof e === 'object' && e !== null && (e as { code?: string }).code === '23505';
}

/**
 * Enrollment: the one domain service behind every way of adding or removing hardware (bmctl,
 * RPC, the lab). Mirrors the os-baremetal-nodes API and nova-baremetal DB API semantics:
 * soft-deleted nodes, hard-deleted interfaces, MACs unique across live nodes.
 */
export class EnrollmentService {
  constructor(
    private readonly ds: DataSource,
    private readonly defaultServiceHost: string,
    /** Seals the BMC passwords before they are stored; without a key a password is refused. */
    private readonly passwords: PasswordVault = PasswordVault.none(),
  ) {}

  /** Enrollment over an open nova_bm (bmctl, scripts) with its key; services get it injected. */
  static of(db: NovaBmDatabase, defaultServiceHost: string): EnrollmentService {
    return new EnrollmentService(db.dataSource, defaultServiceHost, db.passwords);
  }

  async createNode(input: unknown): Promise<NodeView> {
    const v = validateNode(input, this.defaultServiceHost);
    if (!v.ok) throw new InvalidParameterValue(v.problems, 'Invalid node');
    const dupes = v.value.macs.filter((m, i) => v.value.macs.indexOf(m) !== i);
    if (dupes.length)
      throw new InvalidParameterValue([{ field: 'macs', message: `${dupes[0]} is listed twice` }], 'Invalid node');
    return this.ds
      .transaction(async (tx) => {
        const conflicts = await this.enrolledMacs(tx, v.value.macs);
        if (conflicts.size) {
          const [mac, node] = [...conflicts][0];
          throw new DuplicateMac(`MAC ${mac} is already enrolled on node ${node}`);
        }
        const owner = await this.bmcOwner(tx, v.value.pm_address);
        if (owner !== undefined) {
          throw new DuplicateBmc(`BMC ${v.value.pm_address} already manages node ${owner}`);
        }
        return this.insertNode(tx, v.value);
      })
      .catch(rethrowUnique);
  }

  async listNodes(filter: { serviceHost?: string } = {}): Promise<NodeView[]> {
    const nodes = await this.ds.getRepository(BmNode).find({
      where: { deleted: false, ...(filter.serviceHost ? { service_host: filter.serviceHost } : {}) },
      order: { id: 'ASC' },
    });
    const ifaces = nodes.length
      ? await this.ds.getRepository(BmInterface).find({ where: { bm_node_id: In(nodes.map((n) => n.id)) } })
      : [];
    return nodes.map((n) =>
      nodeView(
        n,
        ifaces.filter((i) => i.bm_node_id === n.id),
      ),
    );
  }

  async getNode(ref: string | number): Promise<NodeView> {
    const node = await this.findNode(this.ds.manager, ref);
    return nodeView(node, await this.ds.getRepository(BmInterface).find({ where: { bm_node_id: node.id } }));
  }

  /**
   * Soft-deletes the node and hard-deletes its interfaces in one transaction (bm_node_destroy);
   * the deleted row keeps no BMC password.
   */
  async deleteNode(ref: string | number): Promise<NodeView> {
    return this.ds.transaction(async (tx) => {
      const node = await this.findNode(tx, ref, true);
      if (node.instance_uuid) {
        throw new NodeAssociated(`node ${node.id} carries instance ${node.instance_uuid}; delete the instance first`);
      }
      const ifaces = await tx.find(BmInterface, { where: { bm_node_id: node.id } });
      await tx.delete(BmInterface, { bm_node_id: node.id });
      const now = utcNow();
      await tx.update(BmNode, { id: node.id }, { deleted: true, deleted_at: now, updated_at: now, pm_password: null });
      return nodeView(node, ifaces);
    });
  }

  /**
   * `bmctl node set` / `unset`: changes the fields of `input` (checked as at enrollment) and
   * clears those of `unset` (optional fields only), in one transaction holding the node's row.
   * A new BMC password is sealed as at enrollment; a new BMC address must manage no other live
   * node. While an instance is on the node its resources, architecture and compute host are
   * refused (NodeAssociated): the instance was scheduled on them. Each change goes on the
   * node's timeline (source bmctl, kind node.updated), the password only as "rotated".
   */
  async updateNode(ref: string | number, input: unknown, unset: readonly string[] = []): Promise<NodeUpdate> {
    const v = validateDto(UpdateNodeDto, input);
    if (!v.ok) throw new InvalidParameterValue(v.problems, 'Invalid node change');
    const set = Object.fromEntries(Object.entries(v.value).filter(([, x]) => x !== undefined)) as UpdateNodeDto;
    const problems: FieldProblem[] = [];
    for (const f of unset) {
      if (!(UNSETTABLE_FIELDS as readonly string[]).includes(f))
        problems.push({ field: f, message: `cannot be unset (only ${UNSETTABLE_FIELDS.join(', ')})` });
      else if (f in set) problems.push({ field: f, message: 'is both set and unset' });
    }
    if (!Object.keys(set).length && !unset.length)
      problems.push({ field: '(node)', message: 'nothing to change: give a field to set or unset' });
    if (problems.length) throw new InvalidParameterValue(problems, 'Invalid node change');
    if (set.pm_address !== undefined)
      set.pm_address = formatBmcAddress(parseBmcAddress(set.pm_address) as { host: string; port: number });

    return this.ds
      .transaction(async (tx) => {
        const node = await this.findNode(tx, ref, true);
        const next: Partial<BmNode> = {};
        const changed: string[] = [];
        for (const field of UPDATABLE_FIELDS) {
          const value = set[field];
          if (value === undefined || field === 'pm_password') continue;
          if (node[field] === value) continue;
          (next as Record<string, unknown>)[field] = value;
          changed.push(`${field} ${String(value)}${node[field] === null ? '' : ` (was ${String(node[field])})`}`);
        }
        for (const field of unset as UnsettableField[]) {
          if (node[field] === null) continue;
          (next as Record<string, unknown>)[field] = null;
          changed.push(`${field} unset`);
        }
        if (set.pm_password !== undefined) {
          // Sealed anew even when it is the same password: the stored value is never compared.
          next.pm_password = this.passwords.seal(set.pm_password);
          changed.push(node.pm_password === null ? 'pm_password set' : 'pm_password rotated');
        }
        const fixed = FIXED_WITH_INSTANCE.filter((f) => f in next);
        if (node.instance_uuid && fixed.length)
          throw new NodeAssociated(
            `node ${node.id} carries instance ${node.instance_uuid}, scheduled on its ${fixed.join(', ')}: ` +
              'change them once the instance is deleted',
          );
        if (next.pm_address) {
          const owner = await this.bmcOwner(tx, next.pm_address, node.id);
          if (owner !== undefined) throw new DuplicateBmc(`BMC ${next.pm_address} already manages node ${owner}`);
        }
        if (!changed.length) return { node: await this.viewOf(tx, node), changed };
        const now = utcNow();
        await tx.update(BmNode, { id: node.id }, { ...next, updated_at: now });
        await tx.insert(BmNodeEvent, {
          node_id: node.id,
          at: now,
          source: 'bmctl',
          kind: 'node.updated',
          detail: changed.join(', '),
          instance_uuid: node.instance_uuid,
        });
        return { node: await this.viewOf(tx, { ...node, ...next, updated_at: now }), changed };
      })
      .catch(rethrowUnique);
  }

  async addInterface(ref: string | number, input: unknown): Promise<InterfaceView> {
    const v = validateDto(AddInterfaceDto, input);
    if (!v.ok) throw new InvalidParameterValue(v.problems, 'Invalid interface');
    const mac = normalizeMac(v.value.address)!;
    return this.ds
      .transaction(async (tx) => {
        const node = await this.findNode(tx, ref, true);
        const conflicts = await this.enrolledMacs(tx, [mac]);
        if (conflicts.size) throw new DuplicateMac(`MAC ${mac} is already enrolled on node ${conflicts.get(mac)}`);
        const row = await tx.save(
          tx.create(BmInterface, {
            bm_node_id: node.id,
            address: mac,
            datapath_id: v.value.datapath_id ?? null,
            port_no: v.value.port_no ?? null,
            created_at: utcNow(),
            deleted: false,
          }),
        );
        return interfaceView(row);
      })
      .catch(rethrowUnique);
  }

  async listInterfaces(ref: string | number): Promise<InterfaceView[]> {
    return (await this.getNode(ref)).interfaces;
  }

  /** Removes an interface by id or MAC (os-baremetal-nodes `remove_interface`). */
  async removeInterface(ref: string | number, iface: string | number): Promise<InterfaceView> {
    return this.ds.transaction(async (tx) => {
      const node = await this.findNode(tx, ref, true);
      const byId = typeof iface === 'number' || /^[0-9]+$/.test(iface);
      const mac = byId ? undefined : normalizeMac(String(iface));
      if (!byId && !mac)
        throw new InvalidParameterValue([{ field: 'interface', message: `'${iface}' is neither an id nor a MAC` }]);
      const row = await tx.findOne(BmInterface, {
        where: byId ? { id: Number(iface), bm_node_id: node.id } : { address: mac, bm_node_id: node.id },
      });
      if (!row) throw new InterfaceNotFound(node.id, iface);
      await tx.delete(BmInterface, { id: row.id });
      return interfaceView(row);
    });
  }

  /**
   * Bulk enrollment of `baremetal.csv` (or JSON): every row is validated, within the file and
   * against the database, and the whole file is written in one transaction. Any bad row
   * rejects the file with every problem listed by line; nothing is written.
   */
  async importNodes(text: string, opts: ImportOptions): Promise<ImportResult> {
    const parsed = parseNodeFile(text, opts.format ?? detectFormat(text, opts.source));
    const problems: FieldProblem[] = [...parsed.problems];
    const valid: (NodeInput & Locator)[] = [];
    for (const rec of parsed.records) {
      const v = validateNode(rec.fields, this.defaultServiceHost);
      if (v.ok) valid.push({ ...v.value, line: rec.line, entry: rec.entry });
      else problems.push(...v.problems.map((p) => ({ ...p, ...locate(rec) })));
    }
    problems.push(...duplicatesWithinFile(valid));

    const run = async (tx: EntityManager): Promise<ImportResult> => {
      const enrolled = await this.enrolledMacs(
        tx,
        valid.flatMap((n) => n.macs),
      );
      const result: ImportResult = { dryRun: !!opts.dryRun, nodes: [], skipped: [] };
      const toCreate: (NodeInput & Locator)[] = [];
      for (const n of valid) {
        const taken = n.macs.filter((m) => enrolled.has(m));
        if (taken.length && opts.skipEnrolled && taken.length === n.macs.length) {
          result.skipped.push({ where: where(n), mac: taken[0], node: enrolled.get(taken[0])! });
          continue;
        }
        for (const m of taken) {
          problems.push({ ...locate(n), field: 'mac', message: `${m} is already enrolled on node ${enrolled.get(m)}` });
        }
        const owner = taken.length ? undefined : await this.bmcOwner(tx, n.pm_address);
        if (owner !== undefined) {
          problems.push({
            ...locate(n),
            field: 'pm_address',
            message: `BMC ${n.pm_address} already manages node ${owner}`,
          });
        }
        toCreate.push(n);
      }
      if (problems.length) throw new ImportRejected(opts.source, sortProblems(problems));
      for (const n of toCreate) {
        result.nodes.push(opts.dryRun ? dryRunView(n) : await this.insertNode(tx, n));
      }
      return result;
    };
    if (problems.length && !valid.length) throw new ImportRejected(opts.source, sortProblems(problems));
    return this.ds.transaction(run).catch(rethrowUnique);
  }

  // --- helpers -------------------------------------------------------------------------------

  private async insertNode(tx: EntityManager, n: NodeInput): Promise<NodeView> {
    const now = utcNow();
    const node = await tx.save(
      tx.create(BmNode, {
        uuid: randomUUID(),
        created_at: now,
        deleted: false,
        ...nodeColumns(n),
        pm_password: n.pm_password === undefined ? null : this.passwords.seal(n.pm_password),
        task_state: null,
        preserve_ephemeral: false,
      }),
    );
    const ifaces = await tx.save(
      n.macs.map((address) =>
        tx.create(BmInterface, { bm_node_id: node.id, address, created_at: now, deleted: false }),
      ),
    );
    return nodeView(node, ifaces);
  }

  /** Looks a live node up by numeric id or UUID; `lock` takes a row lock for the transaction. */
  private async findNode(em: EntityManager, ref: string | number, lock = false): Promise<BmNode> {
    const text = String(ref).trim();
    const where = nodeKey(text);
    if (!where) throw new NodeNotFound(text);
    const node = await em.findOne(BmNode, {
      where: { ...where, deleted: false },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!node) throw new NodeNotFound(text);
    return node;
  }

  /** MAC → id of the live node that already has it. */
  private async enrolledMacs(em: EntityManager, macs: string[]): Promise<Map<string, number>> {
    if (!macs.length) return new Map();
    const rows = await em.find(BmInterface, { where: { address: In(macs) } });
    return new Map(rows.map((r) => [r.address!, r.bm_node_id!]));
  }

  /** Id of the live node (other than `except`) already managed by this BMC address, if any. */
  private async bmcOwner(em: EntityManager, pmAddress: string, except?: number): Promise<number | undefined> {
    const row = await em
      .createQueryBuilder(BmNode, 'n')
      .select('n.id')
      .where('n.deleted = false AND lower(n.pm_address) = lower(:a) AND n.id <> :except', {
        a: pmAddress,
        except: except ?? 0,
      })
      .getOne();
    return row?.id;
  }

  private async viewOf(em: EntityManager, node: BmNode): Promise<NodeView> {
    return nodeView(node, await em.find(BmInterface, { where: { bm_node_id: node.id } }));
  }
}

function locate(l: Locator): Locator {
  return l.line !== undefined ? { line: l.line } : { entry: l.entry };
}

function duplicatesWithinFile(nodes: (NodeInput & Locator)[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const macs = new Map<string, Locator>();
  const bmcs = new Map<string, Locator>();
  for (const n of nodes) {
    for (const m of n.macs) {
      const first = macs.get(m);
      if (first) problems.push({ ...locate(n), field: 'mac', message: `${m} is also on ${where(first)}` });
      else macs.set(m, n);
    }
    const key = n.pm_address.toLowerCase();
    const first = bmcs.get(key);
    if (first)
      problems.push({ ...locate(n), field: 'pm_address', message: `BMC ${n.pm_address} is also on ${where(first)}` });
    else bmcs.set(key, n);
  }
  return problems;
}

function sortProblems(problems: FieldProblem[]): FieldProblem[] {
  return [...problems].sort((a, b) => (a.line ?? a.entry ?? 0) - (b.line ?? b.entry ?? 0));
}

/** The columns an enrolled node takes from its validated input (the password aside). */
function nodeColumns(n: NodeInput) {
  return {
    service_host: n.service_host,
    cpus: n.cpus,
    memory_mb: n.memory_mb,
    local_gb: n.local_gb,
    cpu_arch: n.cpu_arch ?? null,
    pm_address: n.pm_address,
    pm_user: n.pm_user ?? null,
    terminal_port: n.terminal_port ?? null,
  };
}

function dryRunView(n: NodeInput): NodeView {
  return {
    id: 0,
    uuid: null,
    ...nodeColumns(n),
    pm_password: n.pm_password ? '******' : null,
    instance_uuid: null,
    instance_name: null,
    task_state: null,
    maintenance: false,
    maintenance_reason: null,
    maintenance_at: null,
    created_at: null,
    updated_at: null,
    interfaces: n.macs.map((address) => ({ id: 0, address, datapath_id: null, port_no: null, vif_uuid: null })),
  };
}

/** A unique violation that slipped past our checks means a concurrent enrollment won the race. */
function rethrowUnique(e: unknown): never {
  if (isUniqueViolation(e) && e.constraint === LIVE_BMC_INDEX)
    throw new DuplicateBmc('a concurrent enrollment took the same BMC address; nothing was written');
  if (isUniqueViolation(e)) {
    throw new DuplicateMac(
      `a concurrent enrollment took the same MAC or UUID (${e.constraint ?? 'unique'}); nothing was written`,
    );
  }
  throw e;
}
