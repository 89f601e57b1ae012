import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import {
  ALLOWED,
  AmbiguousInstance,
  BM_TASK_STATES,
  BmState,
  type BmTaskState,
  InstanceAlreadyAssociated,
  InstanceNotFound,
  InvalidNodeStateTransition,
  NODE_EVENTS,
  NodeAssociated,
  type NodeEvent,
  NodeNotFound,
  NodeStateChanged,
  endsDeploy,
  eventActor,
  releasesNode,
} from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmDhcpReservation, BmInterface, BmNode, openDataSource, syncSchema } from '..';
import { NodeRepository } from './node.repository';

const show = (s: BmTaskState) => s ?? 'NULL';

describe('NodeRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: NodeRepository;
  let seq = 0;

  /** A node row as enrollment writes it, with `patch` on top; its own host unless told. */
  const node = (patch: Partial<BmNode> = {}): Promise<BmNode> => {
    seq += 1;
    const r = ds.getRepository(BmNode);
    return r.save(
      r.create({
        uuid: randomUUID(),
        service_host: 'cn1',
        cpus: 2,
        memory_mb: 2048,
        local_gb: 20,
        cpu_arch: 'x86_64',
        pm_address: `10.9.0.${seq}:623`,
        pm_user: 'admin',
        pm_password: 'secret',
        task_state: null,
        instance_uuid: null,
        instance_name: null,
        created_at: new Date(),
        deleted: false,
        ...patch,
      }),
    );
  };
  const raw = (id: number) => ds.getRepository(BmNode).findOneByOrFail({ id });

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

  describe('transition: every event from every task_state', () => {
    const INSTANCE = randomUUID();
    const OLD = new Date('2020-01-02T03:04:05.000Z');
    let id: number;

    beforeAll(async () => {
      id = (await node({ service_host: 'table' })).id;
    });

    /** The node back in `state`, carrying INSTANCE with every deploy field set, updated long ago. */
    const reset = (state: BmTaskState) =>
      ds.query(
        `UPDATE bm_nodes SET task_state = $2, instance_uuid = $3, instance_name = 'vm-table', deploy_key = 'key-1',
                image_path = '/images/disk', pxe_config_path = '/tftp/cfg', root_mb = 10240, swap_mb = 512,
                preserve_ephemeral = false, deleted = false, updated_at = $4
          WHERE id = $1`,
        [id, state, INSTANCE, OLD],
      );

    const cases = NODE_EVENTS.flatMap((event) => BM_TASK_STATES.map((state) => [event, state] as const));

    it('covers allowed and refused pairs, NULL among the allowed ones', () => {
      const allowed = cases.filter(([e, s]) => (ALLOWED[e].from as readonly BmTaskState[]).includes(s));
      expect(cases).toHaveLength(NODE_EVENTS.length * BM_TASK_STATES.length);
      expect(allowed.length).toBeGreaterThan(0);
      expect(allowed.length).toBeLessThan(cases.length);
      expect(allowed).toContainEqual(['associate', null]);
    });

    /** The newest event of the node's timeline, and how many there are. */
    const lastEvent = async () => {
      const [last] = await ds.query(
        'SELECT source, kind, detail, instance_uuid, count(*) OVER () AS n FROM bm_node_events WHERE node_id = $1 ORDER BY id DESC LIMIT 1',
        [id],
      );
      return last as { source: string; kind: string; detail: string; instance_uuid: string; n: string } | undefined;
    };

    it.each(cases.map(([e, s]) => [e, show(s), s] as const))('%s from %s', async (event: NodeEvent, _n, state) => {
      await reset(state);
      const before = await raw(id);
      const eventsBefore = Number((await lastEvent())?.n ?? 0);
      const allowed = (ALLOWED[event].from as readonly BmTaskState[]).includes(state);
      if (!allowed) {
        const err = await repo.transition(id, INSTANCE, event).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidNodeStateTransition);
        expect(err).toMatchObject({ from: state, event });
        expect(await raw(id)).toEqual(before);
        expect(Number((await lastEvent())?.n ?? 0)).toBe(eventsBefore); // no change, no event
        return;
      }
      const to = ALLOWED[event].to;
      const released = releasesNode(event);
      expect(await repo.transition(id, INSTANCE, event)).toEqual({
        id,
        task_state: to,
        instance_uuid: released ? null : INSTANCE,
      });
      const after = await raw(id);
      expect(after.updated_at!.getTime()).toBeGreaterThan(OLD.getTime());
      expect(after).toEqual({
        ...before,
        task_state: to,
        updated_at: after.updated_at,
        ...(released
          ? {
              instance_uuid: null,
              instance_name: null,
              deploy_key: null,
              image_path: null,
              pxe_config_path: null,
              root_mb: 0,
              swap_mb: 0,
            }
          : endsDeploy(event)
            ? { deploy_key: null } // the key is used once
            : {}),
      });
      // The change is on the node's timeline, by the service that applies the event.
      expect(await lastEvent()).toEqual({
        source: eventActor(event),
        kind: 'state',
        detail: `${to ?? 'NULL'} (${event})`,
        instance_uuid: INSTANCE,
        n: String(eventsBefore + 1),
      });
    });
  });

  describe('transition: the other errors and the fields', () => {
    it("a failure's reason goes on the timeline with the state change", async () => {
      const instance = randomUUID();
      const n = await node({ instance_uuid: instance, task_state: BmState.PREPARED });
      await repo.transition(n.id, instance, 'failed', {}, 'Timeout reached while waiting for PXE deploy');
      const [last] = await ds.query(
        'SELECT source, kind, detail FROM bm_node_events WHERE node_id = $1 ORDER BY id DESC LIMIT 1',
        [n.id],
      );
      expect(last).toEqual({
        source: 'compute',
        kind: 'state',
        detail: 'error (failed): Timeout reached while waiting for PXE deploy',
      });
    });

    it('NodeNotFound for an unknown or deleted node', async () => {
      const instance = randomUUID();
      await expect(repo.transition(2 ** 31 - 1, instance, 'activated')).rejects.toBeInstanceOf(NodeNotFound);
      const gone = await node({ instance_uuid: instance, task_state: BmState.DEPLOYDONE, deleted: true });
      await expect(repo.transition(gone.id, instance, 'activated')).rejects.toBeInstanceOf(NodeNotFound);
      expect((await raw(gone.id)).task_state).toBe(BmState.DEPLOYDONE);
    });

    it("InstanceNotFound for a node that is another instance's, or free", async () => {
      const theirs = await node({ instance_uuid: randomUUID(), task_state: BmState.ACTIVE });
      const mine = randomUUID();
      const err = await repo.transition(theirs.id, mine, 'destroyed').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InstanceNotFound);
      expect(err).toMatchObject({ ref: mine });
      expect(await raw(theirs.id)).toEqual(theirs);
      const free = await node({ task_state: BmState.DELETED });
      await expect(repo.transition(free.id, mine, 'failed')).rejects.toBeInstanceOf(InstanceNotFound);
    });

    it('writes the deploy fields with a non-releasing event and refuses them with a releasing one', async () => {
      const instance = randomUUID();
      const n = await node({ instance_uuid: instance, task_state: BmState.BUILDING });
      await repo.transition(n.id, instance, 'prepared', { deploy_key: 'k2', pxe_config_path: '/tftp/k2' });
      expect(await raw(n.id)).toMatchObject({
        task_state: BmState.PREPARED,
        deploy_key: 'k2',
        pxe_config_path: '/tftp/k2',
        preserve_ephemeral: false,
      });
      await expect(repo.transition(n.id, instance, 'destroyed', { deploy_key: 'x' })).rejects.toBeInstanceOf(
        RangeError,
      );
      expect((await raw(n.id)).task_state).toBe(BmState.PREPARED);
    });
  });

  describe('transitionInstance', () => {
    it('rebuilds the instance on its node with preserve_ephemeral', async () => {
      const instance = randomUUID();
      const n = await node({ service_host: 'rb', instance_uuid: instance, task_state: BmState.ACTIVE });
      expect(await repo.transitionInstance(instance, 'rb', 'rebuild', { preserve_ephemeral: true })).toEqual({
        id: n.id,
        task_state: BmState.BUILDING,
        instance_uuid: instance,
      });
      expect(await raw(n.id)).toMatchObject({ task_state: BmState.BUILDING, preserve_ephemeral: true });
    });

    it('InstanceNotFound on another host; InvalidNodeStateTransition leaves the row alone', async () => {
      const instance = randomUUID();
      const n = await node({ service_host: 'rb2', instance_uuid: instance, task_state: BmState.DEPLOYING });
      await expect(repo.transitionInstance(instance, 'elsewhere', 'rebuild')).rejects.toBeInstanceOf(InstanceNotFound);
      await expect(repo.transitionInstance(instance, 'rb2', 'rebuild')).rejects.toBeInstanceOf(
        InvalidNodeStateTransition,
      );
      expect(await raw(n.id)).toEqual(n);
    });
  });

  describe('associate', () => {
    it('claims a free node: building, the instance, preserve_ephemeral reset', async () => {
      const n = await node({ service_host: 'as', task_state: BmState.DELETED, preserve_ephemeral: true });
      const instance = randomUUID();
      expect(await repo.associate(n.uuid!, 'as', instance, 'vm-a')).toEqual({
        id: n.id,
        task_state: BmState.BUILDING,
        instance_uuid: instance,
      });
      const after = await raw(n.id);
      expect(after).toMatchObject({
        instance_uuid: instance,
        instance_name: 'vm-a',
        task_state: BmState.BUILDING,
        preserve_ephemeral: false,
      });
      expect(after.updated_at).toBeInstanceOf(Date);
      expect(Math.abs(after.updated_at!.getTime() - Date.now())).toBeLessThan(60_000); // naive UTC, not local
    });

    it('NodeNotFound for an unknown node, a node of another host, a deleted node', async () => {
      const other = await node({ service_host: 'as-other' });
      const gone = await node({ service_host: 'as', deleted: true });
      for (const uuid of [randomUUID(), other.uuid!, gone.uuid!]) {
        const err = await repo.associate(uuid, 'as', randomUUID(), 'vm').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NodeNotFound);
        expect(err).toMatchObject({ ref: uuid });
      }
      expect((await raw(other.id)).instance_uuid).toBeNull();
    });

    it('NodeAssociated for a node carrying an instance', async () => {
      const owner = randomUUID();
      const n = await node({ service_host: 'as', instance_uuid: owner, task_state: BmState.ACTIVE });
      const err = await repo.associate(n.uuid!, 'as', randomUUID(), 'vm').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NodeAssociated);
      expect((err as Error).message).toBe(`Node ${n.uuid} is associated with instance ${owner}`);
      expect(await raw(n.id)).toEqual(n);
    });

    it.each([BmState.NULL, BmState.DELETED])(
      'NodeAssociated for a node carrying an instance in task_state %s: instance_uuid decides',
      async (state) => {
        const owner = randomUUID();
        const n = await node({ service_host: 'as', instance_uuid: owner, task_state: state });
        await expect(repo.associate(n.uuid!, 'as', randomUUID(), 'vm')).rejects.toBeInstanceOf(NodeAssociated);
        expect(await raw(n.id)).toEqual(n);
      },
    );

    it('InvalidNodeStateTransition for a free node whose last lifecycle did not end', async () => {
      const n = await node({ service_host: 'as', task_state: BmState.ERROR });
      const err = await repo.associate(n.uuid!, 'as', randomUUID(), 'vm').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidNodeStateTransition);
      expect(err).toMatchObject({ from: BmState.ERROR, event: 'associate' });
      expect(await raw(n.id)).toEqual(n);
    });

    it('two racing claims of one node: exactly one wins, the other gets NodeAssociated', async () => {
      const n = await node({ service_host: 'race' });
      // Hold the row so that both UPDATEs are queued on it before either runs.
      const lock = ds.createQueryRunner();
      await lock.connect();
      await lock.startTransaction();
      let results: PromiseSettledResult<unknown>[];
      const [a, b] = [randomUUID(), randomUUID()];
      try {
        await lock.query('SELECT id FROM bm_nodes WHERE id = $1 FOR UPDATE', [n.id]);
        const claims = Promise.allSettled([
          repo.associate(n.uuid!, 'race', a, 'vm-a'),
          repo.associate(n.uuid!, 'race', b, 'vm-b'),
        ]);
        for (let i = 0; ; i++) {
          const [w]: { n: number }[] = await ds.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH moved AS (UPDATE bm_nodes%'`,
          );
          if (w.n === 2) break;
          if (i > 200) throw new Error('the two claims never queued on the row lock');
          await new Promise((r) => setTimeout(r, 10));
        }
        await lock.commitTransaction();
        results = await claims;
      } finally {
        await lock.release();
      }
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0].reason).toBeInstanceOf(NodeAssociated);
      const winner = (won[0] as PromiseFulfilledResult<{ instance_uuid: string }>).value.instance_uuid;
      expect([a, b]).toContain(winner);
      expect((await raw(n.id)).instance_uuid).toBe(winner);
    });

    it('two racing claims of one instance on two nodes: one node carries it, the other claim gets InstanceAlreadyAssociated', async () => {
      for (let round = 0; round < 10; round++) {
        const [x, y] = [await node({ service_host: 'twice' }), await node({ service_host: 'twice' })];
        const instance = randomUUID();
        const results = await Promise.allSettled([
          repo.associate(x.uuid!, 'twice', instance, 'vm'),
          repo.associate(y.uuid!, 'twice', instance, 'vm'),
        ]);
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(lost).toHaveLength(1);
        expect(lost[0].reason).toBeInstanceOf(InstanceAlreadyAssociated);
        expect(lost[0].reason.message).toMatch(new RegExp(`^Instance ${instance} is already on node `));
        const carriers: { id: number }[] = await ds.query(
          'SELECT id FROM bm_nodes WHERE instance_uuid = $1 AND deleted = false',
          [instance],
        );
        expect(carriers).toHaveLength(1);
        // The loser's node is untouched: still free.
        const loser = carriers[0].id === x.id ? y : x;
        expect(await raw(loser.id)).toEqual(loser);
      }
    });

    it("an instance rescheduled off a node left in error (its power-off failed) is claimed elsewhere; that node is the instance's", async () => {
      const [failed, next] = [await node({ service_host: 'resched' }), await node({ service_host: 'resched' })];
      const instance = randomUUID();
      await repo.associate(failed.uuid!, 'resched', instance, 'vm');
      await repo.transition(failed.id, instance, 'failed', {}, 'BMC unreachable');
      await expect(repo.associate(next.uuid!, 'resched', instance, 'vm')).resolves.toMatchObject({ id: next.id });
      expect((await repo.instanceNode(instance, 'resched')).id).toBe(next.id);
      // A third claim of it is a second build: refused, naming the node that has it.
      const third = await node({ service_host: 'resched' });
      await expect(repo.associate(third.uuid!, 'resched', instance, 'vm')).rejects.toThrow(
        new InstanceAlreadyAssociated(
          `Instance ${instance} is already on node ${next.uuid}: not claiming node ${third.uuid} too`,
        ),
      );
    });
  });

  describe('recordDeploy', () => {
    it('sets the deploy fields (key, PXE config, image id) of a building node, task_state untouched', async () => {
      const instance = randomUUID();
      const n = await node({ instance_uuid: instance, task_state: BmState.BUILDING });
      const image = randomUUID();
      const disk = { root_mb: 10240, swap_mb: 1, ephemeral_mb: 2048 };
      await repo.recordDeploy(n.id, instance, {
        deploy_key: 'dk',
        pxe_config_path: '/tftp/dk',
        image_path: image,
        disk,
      });
      expect(await raw(n.id)).toMatchObject({
        task_state: BmState.BUILDING,
        deploy_key: 'dk',
        pxe_config_path: '/tftp/dk',
        image_path: image,
        ...disk,
      });
      // Without a disk (a rebuild whose flavor is not known), the sizes of the first deploy stay.
      await repo.recordDeploy(n.id, instance, { deploy_key: 'dk2', pxe_config_path: '/tftp/dk', image_path: image });
      expect(await raw(n.id)).toMatchObject({ deploy_key: 'dk2', ...disk });
    });

    it("NodeStateChanged when the node left building or is another instance's", async () => {
      const instance = randomUUID();
      const n = await node({ instance_uuid: instance, task_state: BmState.PREPARED });
      const err = await repo
        .recordDeploy(n.id, instance, { deploy_key: 'dk', pxe_config_path: '/p', image_path: 'i' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NodeStateChanged);
      expect((err as Error).message).toContain(`Node ${n.id}`);
      await expect(
        repo.recordDeploy(n.id, randomUUID(), { deploy_key: 'dk', pxe_config_path: '/p', image_path: 'i' }),
      ).rejects.toBeInstanceOf(NodeStateChanged);
      expect(await raw(n.id)).toEqual(n);
    });
  });

  describe('reads', () => {
    it('read: a live node, undefined once deleted', async () => {
      const instance = randomUUID();
      const n = await node({ instance_uuid: instance, task_state: BmState.DEPLOYING });
      expect(await repo.read(n.id)).toEqual({ id: n.id, task_state: BmState.DEPLOYING, instance_uuid: instance });
      await ds.query('UPDATE bm_nodes SET deleted = true WHERE id = $1', [n.id]);
      expect(await repo.read(n.id)).toBeUndefined();
    });

    it("instanceNode: the instance's node on this host, else InstanceNotFound", async () => {
      const instance = randomUUID();
      const n = await node({ service_host: 'in', instance_uuid: instance, task_state: BmState.ACTIVE, cpus: 4 });
      expect(await repo.instanceNode(instance, 'in')).toEqual({
        id: n.id,
        uuid: n.uuid,
        task_state: BmState.ACTIVE,
        cpus: 4,
        memory_mb: 2048,
      });
      await expect(repo.instanceNode(instance, 'cn-x')).rejects.toBeInstanceOf(InstanceNotFound);
      await expect(repo.instanceNode(randomUUID(), 'in')).rejects.toBeInstanceOf(InstanceNotFound);
    });

    it('interruptedSpawns: the asked states on this host, with how long ago each changed', async () => {
      const h = 'intr';
      const building = await node({ service_host: h, instance_uuid: randomUUID(), task_state: BmState.BUILDING });
      const deploying = await node({
        service_host: h,
        instance_uuid: randomUUID(),
        instance_name: 'vm-d',
        task_state: BmState.DEPLOYING,
      });
      await ds.query(`UPDATE bm_nodes SET updated_at = now() AT TIME ZONE 'UTC' - interval '5 minutes' WHERE id = $1`, [
        deploying.id,
      ]);
      await node({ service_host: h, instance_uuid: randomUUID(), task_state: BmState.ACTIVE });
      await node({ service_host: h, task_state: BmState.DEPLOYING }); // no instance
      await node({ service_host: 'intr-other', instance_uuid: randomUUID(), task_state: BmState.BUILDING });
      const rows = await repo.interruptedSpawns(h, [BmState.BUILDING, BmState.DEPLOYING]);
      expect(rows.map((r) => [r.id, r.uuid, r.instance_uuid, r.instance_name, r.task_state])).toEqual([
        [building.id, building.uuid, building.instance_uuid, null, BmState.BUILDING],
        [deploying.id, deploying.uuid, deploying.instance_uuid, 'vm-d', BmState.DEPLOYING],
      ]);
      // building's row has only created_at (written by this process): close to 0, never negative.
      expect(rows[0].ago_ms).toBeGreaterThanOrEqual(0);
      expect(rows[0].ago_ms).toBeLessThan(60_000);
      expect(typeof rows[1].ago_ms).toBe('number');
      expect(rows[1].ago_ms).toBeGreaterThanOrEqual(300_000);
      expect(rows[1].ago_ms).toBeLessThan(360_000);
    });

    it('instanceNames: name else uuid, by node id, live nodes of this host', async () => {
      const h = 'names';
      const u = randomUUID();
      await node({ service_host: h, instance_uuid: randomUUID(), instance_name: 'web-1', task_state: 'active' });
      await node({ service_host: h, instance_uuid: u, task_state: BmState.BUILDING });
      await node({ service_host: h, instance_uuid: randomUUID(), instance_name: 'gone', deleted: true });
      await node({ service_host: h });
      await node({ service_host: 'names-other', instance_uuid: randomUUID(), instance_name: 'theirs' });
      expect(await repo.instanceNames(h)).toEqual(['web-1', u]);
      expect(await repo.instanceNames('nobody')).toEqual([]);
    });

    describe('instances and findInstance', () => {
      beforeEach(async () => {
        await ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE');
      });

      it('lists the live nodes carrying an instance, on every host', async () => {
        const a = await node({
          service_host: 'h1',
          instance_uuid: randomUUID(),
          instance_name: 'a',
          task_state: 'active',
        });
        const b = await node({ service_host: 'h2', instance_uuid: randomUUID(), task_state: BmState.BUILDING });
        await node({ service_host: 'h1' });
        await node({ service_host: 'h1', instance_uuid: randomUUID(), deleted: true });
        const all = await repo.instances();
        expect(all).toEqual([
          {
            instance_uuid: a.instance_uuid,
            instance_name: 'a',
            task_state: 'active',
            node_id: a.id,
            node_uuid: a.uuid,
            service_host: 'h1',
            cpus: 2,
            memory_mb: 2048,
            local_gb: 20,
            updated_at: null,
          },
          expect.objectContaining({ instance_uuid: b.instance_uuid, node_id: b.id, service_host: 'h2' }),
        ]);
        expect(await repo.instances({ instanceUuid: b.instance_uuid! })).toEqual([all[1]]);
        expect(await repo.instances({ instanceUuid: randomUUID() })).toEqual([]);
      });

      it('finds by uuid or name; InstanceNotFound; AmbiguousInstance for a shared name', async () => {
        const a = await node({ instance_uuid: randomUUID(), instance_name: 'solo', task_state: 'active' });
        await node({ instance_uuid: randomUUID(), instance_name: 'twin', task_state: 'active' });
        await node({ instance_uuid: randomUUID(), instance_name: 'twin', task_state: 'active' });
        expect((await repo.findInstance(a.instance_uuid!)).node_id).toBe(a.id);
        expect((await repo.findInstance('solo')).instance_uuid).toBe(a.instance_uuid);
        await expect(repo.findInstance('nope')).rejects.toBeInstanceOf(InstanceNotFound);
        const err = await repo.findInstance('twin').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AmbiguousInstance);
        expect(err).toMatchObject({ ref: 'twin', count: 2 });
      });
    });

    it('resourceRows: the live nodes of this host that have a uuid, by id', async () => {
      const h = 'res';
      const a = await node({ service_host: h, cpu_arch: null });
      const instance = randomUUID();
      const b = await node({
        service_host: h,
        instance_uuid: instance,
        cpus: 8,
        task_state: 'active',
        maintenance: true,
      });
      await node({ service_host: h, uuid: null });
      await node({ service_host: h, deleted: true });
      await node({ service_host: 'res-other' });
      expect(await repo.resourceRows(h)).toEqual([
        {
          uuid: a.uuid,
          cpus: 2,
          memory_mb: 2048,
          local_gb: 20,
          cpu_arch: null,
          instance_uuid: null,
          maintenance: false,
        },
        {
          uuid: b.uuid,
          cpus: 8,
          memory_mb: 2048,
          local_gb: 20,
          cpu_arch: 'x86_64',
          instance_uuid: instance,
          maintenance: true,
        },
      ]);
    });

    it("fingerprint: changes on enrollment, edit and deletion of this host's nodes only", async () => {
      const h = 'fp';
      expect(await repo.fingerprint(h)).toBe('0/0//0');
      const a = await node({ service_host: h });
      const f1 = await repo.fingerprint(h);
      expect(f1).toBe(`1/${a.id}//0`);
      expect(await repo.fingerprint(h)).toBe(f1);
      await node({ service_host: 'fp-other' });
      expect(await repo.fingerprint(h)).toBe(f1);
      await ds.query(`UPDATE bm_nodes SET cpus = 4, updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1`, [a.id]);
      const f2 = await repo.fingerprint(h);
      expect(f2).toMatch(new RegExp(`^1/${a.id}/\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:[\\d.]+/0$`));
      await ds.query(`UPDATE bm_nodes SET deleted = true WHERE id = $1`, [a.id]);
      const f3 = await repo.fingerprint(h);
      expect(f3).toBe(f2.replace(/\/0$/, '/1'));
    });

    it('enrolledMacs: the interfaces of live nodes of this host', async () => {
      const h = 'dhcp';
      const a = await node({ service_host: h });
      const gone = await node({ service_host: h, deleted: true });
      const other = await node({ service_host: 'dhcp-other' });
      const ifaces = ds.getRepository(BmInterface);
      await ifaces.save([
        ifaces.create({ bm_node_id: a.id, address: '52:54:00:aa:00:01', deleted: false }),
        ifaces.create({ bm_node_id: a.id, address: '52:54:00:aa:00:02', deleted: false }),
        ifaces.create({ bm_node_id: a.id, address: null, deleted: false }),
        ifaces.create({ bm_node_id: gone.id, address: '52:54:00:aa:00:03', deleted: false }),
        ifaces.create({ bm_node_id: other.id, address: '52:54:00:aa:00:04', deleted: false }),
      ]);
      expect(await repo.enrolledMacs(h)).toEqual([
        { address: '52:54:00:aa:00:01', node_id: a.id },
        { address: '52:54:00:aa:00:02', node_id: a.id },
      ]);
    });

    it('powerTarget and powerTargets: live nodes with a BMC, credentials included; the sync leaves maintenance out', async () => {
      const h = 'pw';
      const a = await node({ service_host: h, pm_address: '10.1.1.1:623', pm_user: null });
      await node({ service_host: h, pm_address: null });
      const gone = await node({ service_host: h, deleted: true });
      const b = await node({ service_host: h, pm_address: '10.1.1.2:623' });
      const want = { id: a.id, uuid: a.uuid, pm_address: '10.1.1.1:623', pm_user: '', pm_password: 'secret' };
      expect(await repo.powerTarget(a.id)).toEqual(want);
      expect(await repo.powerTarget(` ${a.uuid!.toUpperCase()} `)).toEqual(want);
      expect(await repo.powerTarget(String(a.id))).toEqual(want);
      for (const ref of [gone.id, 'not-a-node', 2 ** 31 - 1, randomUUID()])
        await expect(repo.powerTarget(ref)).rejects.toBeInstanceOf(NodeNotFound);
      expect((await repo.powerTargets(h)).map((t) => t.id)).toEqual([a.id, b.id]);
      expect(await repo.powerTargets('nobody')).toEqual([]);
      // In maintenance: out of the power sync, still reachable by a power call.
      await repo.setMaintenance([b.id], true, 'BMC answers garbage');
      expect((await repo.powerTargets(h)).map((t) => t.id)).toEqual([a.id]);
      expect((await repo.powerTarget(b.id)).id).toBe(b.id);
    });
  });

  describe('the deploy callback', () => {
    it('deployTarget: the deploy fields of a live node; undefined for an unknown or deleted node', async () => {
      const instance = randomUUID();
      const a = await node({
        service_host: 'dh',
        instance_uuid: instance,
        task_state: BmState.PREPARED,
        deploy_key: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345',
        image_path: '/images/disk',
        pxe_config_path: `/tftpboot/${instance}/config`,
        root_mb: 10240,
        swap_mb: 512,
        ephemeral_mb: 0,
        preserve_ephemeral: false,
      });
      expect(await repo.deployTarget(a.id)).toEqual({
        id: a.id,
        uuid: a.uuid,
        service_host: 'dh',
        instance_uuid: instance,
        task_state: 'prepared',
        deploy_key: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345',
        image_path: '/images/disk',
        pxe_config_path: `/tftpboot/${instance}/config`,
        root_mb: 10240,
        swap_mb: 512,
        ephemeral_mb: 0,
        preserve_ephemeral: false,
        local_gb: 20,
      });
      const gone = await node({ service_host: 'dh', deleted: true, deploy_key: 'K' });
      expect(await repo.deployTarget(gone.id)).toBeUndefined();
      expect(await repo.deployTarget(2 ** 31 - 1)).toBeUndefined();
    });

    it("reservedAddresses: the reservations of the node's MACs only, released ones included", async () => {
      const a = await node({ service_host: 'dh-res' });
      const b = await node({ service_host: 'dh-res' });
      const bare = await node({ service_host: 'dh-res' });
      const gone = await node({ service_host: 'dh-res', deleted: true });
      const ifaces = ds.getRepository(BmInterface);
      await ifaces.save([
        ifaces.create({ bm_node_id: a.id, address: '52:54:00:dd:00:01', deleted: false }),
        ifaces.create({ bm_node_id: a.id, address: '52:54:00:dd:00:02', deleted: false }),
        ifaces.create({ bm_node_id: a.id, address: '52:54:00:dd:00:03', deleted: false }),
        ifaces.create({ bm_node_id: b.id, address: '52:54:00:dd:00:04', deleted: false }),
        ifaces.create({ bm_node_id: bare.id, address: '52:54:00:dd:00:05', deleted: false }),
        ifaces.create({ bm_node_id: gone.id, address: '52:54:00:dd:00:06', deleted: false }),
      ]);
      const res = ds.getRepository(BmDhcpReservation);
      const at = new Date();
      await res.save([
        res.create({ mac: '52:54:00:dd:00:02', address: '10.66.0.12', active: true, updated_at: at }),
        res.create({ mac: '52:54:00:dd:00:01', address: '10.66.0.11', active: false, updated_at: at }),
        res.create({ mac: '52:54:00:dd:00:04', address: '10.66.0.14', active: true, updated_at: at }),
        res.create({ mac: '52:54:00:dd:00:06', address: '10.66.0.16', active: true, updated_at: at }),
        res.create({ mac: '52:54:00:dd:00:99', address: '10.66.0.99', active: true, updated_at: at }),
      ]);
      expect(await repo.reservedAddresses(a.id)).toEqual(['10.66.0.11', '10.66.0.12']);
      expect(await repo.reservedAddresses(b.id)).toEqual(['10.66.0.14']);
      expect(await repo.reservedAddresses(bare.id)).toEqual([]);
      expect(await repo.reservedAddresses(gone.id)).toEqual([]);
      expect(await repo.reservedAddresses(2 ** 31 - 1)).toEqual([]);
    });
  });
});
