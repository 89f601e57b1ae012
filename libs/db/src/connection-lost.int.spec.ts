import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { openDataSource } from '.';

describe('a pooled connection the server ends while lent out, between queries (pg_terminate_backend)', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
  });
  afterAll(async () => {
    await ds?.destroy().catch(() => undefined);
    await db?.drop();
  });

  it("the driver's own loan (as while the data source initializes) ended by the server: the process lives on", async () => {
    // TypeORM's driver borrows a client for its version check with no 'error' listener; Node
    // would throw the client's error event (jest: "Unhandled error", the suite fails).
    const driver = ds.driver as unknown as {
      obtainMasterConnection(): Promise<[{ query(q: string): Promise<{ rows: { pid: number }[] }> }, () => void]>;
    };
    const [conn, release] = await driver.obtainMasterConnection();
    const { rows } = await conn.query('SELECT pg_backend_pid() AS pid');
    await ds.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await new Promise((r) => setTimeout(r, 300));
    release();
    expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('does not end the process; the next query goes through on a new connection', async () => {
    // Without a listener Node throws the client's 'error' event: jest reports it as this test's failure.
    const uncaught: Error[] = [];
    const onUncaught = (e: Error) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const runner = ds.createQueryRunner();
      await runner.connect();
      await runner.startTransaction(); // checked out, idle between queries
      const [{ pid }] = (await runner.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
      await ds.query('SELECT pg_terminate_backend($1)', [pid]);
      await new Promise((r) => setTimeout(r, 300));
      await expect(runner.query('SELECT 1')).rejects.toThrow();
      await runner.release();
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
