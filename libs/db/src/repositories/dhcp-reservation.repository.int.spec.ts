import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { InMemoryLeaseStore, OrphanReservations } from '@bm/dhcp';
import { BmDhcpReservation, BmInterface, BmNode, openDataSource, syncSchema } from '..';
import { DhcpReservationRepository } from './dhcp-reservation.repository';

describe('DhcpReservationRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: DhcpReservationRepository;

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new DhcpReservationRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('saves, replaces, lists and forgets reservations', async () => {
    expect(await repo.all()).toEqual([]);
    const before = Date.now();
    await repo.save({ mac: '52:54:00:00:00:02', ip: '10.0.0.12', active: true });
    await repo.save({ mac: '52:54:00:00:00:01', ip: '10.0.0.11', active: true });
    expect(await repo.all()).toEqual([
      { mac: '52:54:00:00:00:01', ip: '10.0.0.11', active: true },
      { mac: '52:54:00:00:00:02', ip: '10.0.0.12', active: true },
    ]);
    const stamp = await ds.getRepository(BmDhcpReservation).findOneByOrFail({ mac: '52:54:00:00:00:02' });
    expect(Math.abs(stamp.updated_at.getTime() - before)).toBeLessThan(60_000); // naive UTC, not local time

    // Released, then moved to another address: the same row.
    await repo.save({ mac: '52:54:00:00:00:02', ip: '10.0.0.12', active: false });
    await repo.save({ mac: '52:54:00:00:00:01', ip: '10.0.0.21', active: true });
    expect(await repo.all()).toEqual([
      { mac: '52:54:00:00:00:01', ip: '10.0.0.21', active: true },
      { mac: '52:54:00:00:00:02', ip: '10.0.0.12', active: false },
    ]);

    await repo.forget('52:54:00:00:00:01');
    await repo.forget('52:54:00:00:00:99'); // unknown: nothing happens
    expect(await repo.all()).toEqual([{ mac: '52:54:00:00:00:02', ip: '10.0.0.12', active: false }]);
  });

  it("liveMacs: every live node's MACs, any host; with OrphanReservations node churn leaves only live reservations", async () => {
    await ds.query('TRUNCATE bm_nodes, bm_dhcp_reservations RESTART IDENTITY CASCADE');
    // Written in order, as netboot writes them: a forgotten address may be handed out at once.
    let persisted = Promise.resolve();
    const store = new InMemoryLeaseStore(
      { first: '10.0.1.10', last: '10.0.1.14' },
      {
        onChange: (c) =>
          void (persisted = persisted.then(() =>
            c.event === 'forgotten' ? repo.forget(c.mac) : repo.save({ mac: c.mac, ip: c.ip, active: c.active }),
          )),
      },
    );
    const orphans = new OrphanReservations(store, 0);
    const enroll = async (n: number) => {
      const node = await ds.getRepository(BmNode).save({ service_host: `h${n % 2}`, deleted: false });
      const mac = `52:54:00:00:02:${n.toString(16).padStart(2, '0')}`;
      await ds.getRepository(BmInterface).save({ bm_node_id: node.id, address: mac.toUpperCase(), deleted: false });
      return { id: node.id, mac };
    };
    // As enrollment deletes a node: interfaces hard-deleted, the node soft-deleted.
    const remove = async (id: number) => {
      await ds.getRepository(BmInterface).delete({ bm_node_id: id });
      await ds.getRepository(BmNode).update({ id }, { deleted: true, deleted_at: new Date() });
    };
    // 20 nodes, two alive at a time, through a range of 5 addresses.
    let alive: { id: number; mac: string }[] = [];
    const refused: string[] = [];
    for (let n = 1; n <= 20; n++) {
      if (alive.length === 2) await remove(alive.shift()!.id);
      const fresh = await enroll(n);
      alive.push(fresh);
      orphans.sweep(await repo.liveMacs(), n);
      if (!store.allocate(fresh.mac)) refused.push(fresh.mac);
    }
    await persisted;
    expect(await repo.liveMacs()).toEqual(new Set(alive.map((a) => a.mac)));
    expect(refused).toEqual([]);
    expect((await repo.all()).map((r) => r.mac).sort()).toEqual(alive.map((a) => a.mac).sort());
    alive = [];
  });
});
