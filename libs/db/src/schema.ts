import { DataSource, type DataSourceOptions } from 'typeorm';
import { Client } from 'pg';
import { LATEST_VERSION, MIGRATIONS } from './migrations';
import { type DatabaseLimits, MIGRATIONS_TABLE, dataSourceOptions } from './data-source-options';

/** An initialized DataSource on `url` with `limits` (default: DEFAULT_LIMITS). */
export function openDataSource(url: string, limits: DatabaseLimits = {}): Promise<DataSource> {
  return new DataSource(dataSourceOptions(url, limits)).initialize();
}

/** The nova_bm schema version of this database: 0 when no migration has run. */
export async function schemaVersion(ds: DataSource): Promise<number> {
  const exists = await ds.query(`SELECT to_regclass($1) AS t`, [MIGRATIONS_TABLE]);
  if (!exists[0].t) return 0;
  const rows: { name: string }[] = await ds.query(`SELECT name FROM ${MIGRATIONS_TABLE}`);
  const applied = new Set(rows.map((r) => r.name));
  let version = 0;
  for (const m of MIGRATIONS) if (applied.has(m.migration.name)) version = m.version;
  return version;
}

/**
 * `db sync [--version N]`: upgrade to the latest schema, or to N, or downgrade to N when N is
 * below the current version (as nova-baremetal-manage did). Each migration runs in its own
 * transaction, so an interrupted sync leaves a consistent, resumable database.
 */
export async function syncSchema(
  ds: DataSource,
  target: number = LATEST_VERSION,
): Promise<{ from: number; to: number }> {
  const known = new Set<number>([0, ...MIGRATIONS.map((m) => m.version)]);
  if (!known.has(target)) {
    throw new RangeError(
      `unknown schema version ${target}; known versions: ${[...known].join(', ')} (latest ${LATEST_VERSION})`,
    );
  }
  const from = await schemaVersion(ds);
  if (target > from) {
    // TypeORM runs every pending migration it knows: give it only those up to `target`.
    const upTo = MIGRATIONS.filter((m) => m.version <= target).map((m) => m.migration);
    const partial = await new DataSource({
      ...ds.options,
      migrations: upTo,
      poolSize: 1,
    } as DataSourceOptions).initialize();
    try {
      await partial.runMigrations({ transaction: 'each' });
    } finally {
      await partial.destroy();
    }
  } else {
    while ((await schemaVersion(ds)) > target) await ds.undoLastMigration({ transaction: 'each' });
  }
  return { from, to: await schemaVersion(ds) };
}

/** Creates the database named in `url` if it does not exist (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  u.pathname = '/postgres';
  const client = new Client({ connectionString: u.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
