import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { BmDhcpReservation, openDataSource, syncSchema } from '..';
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
});
