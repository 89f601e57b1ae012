import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { openDataSource, syncSchema } from '@bm/db';

/** Where tests may create databases: the machine's PostgreSQL (trust auth). */
export const TEST_SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export interface ScratchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: TEST_SERVER_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A URL naming a database that does not exist yet (for create-on-sync tests); drop() removes it. */
export function unusedDatabase(prefix = 'bm_test'): ScratchDatabase {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const u = new URL(TEST_SERVER_URL);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** A fresh, empty database of its own for one test file; `drop()` removes it. */
export async function createScratchDatabase(prefix = 'bm_test'): Promise<ScratchDatabase> {
  const db = unusedDatabase(prefix);
  await admin((c) => c.query(`CREATE DATABASE "${db.name}"`));
  return db;
}

/** A scratch database with the nova_bm schema, and a DataSource on it. */
export interface NovaBmDatabase extends ScratchDatabase {
  ds: DataSource;
}

/**
 * A fresh database migrated to the latest nova_bm schema (syncSchema), with a DataSource open on
 * it; `drop()` closes the DataSource, then removes the database.
 */
export async function createNovaBmDatabase(prefix = 'bm_test'): Promise<NovaBmDatabase> {
  const db = await createScratchDatabase(prefix);
  let ds: DataSource | undefined;
  try {
    ds = await openDataSource(db.url);
    await syncSchema(ds);
  } catch (e) {
    await ds?.destroy();
    await db.drop();
    throw e;
  }
  const open = ds;
  return {
    ...db,
    ds: open,
    drop: async () => {
      if (open.isInitialized) await open.destroy();
      await db.drop();
    },
  };
}
