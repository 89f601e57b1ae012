import { type Server, type Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { DEFAULT_LIMITS, dataSourceOptions, openDataSource } from '.';

/** How long `p` takes to settle, and how. */
async function timed(p: Promise<unknown>): Promise<{ ms: number; error?: Error }> {
  const t0 = Date.now();
  try {
    await p;
    return { ms: Date.now() - t0 };
  } catch (e) {
    return { ms: Date.now() - t0, error: e as Error };
  }
}

describe('database limits: statement, connect and client timeouts against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource | undefined;

  beforeAll(async () => {
    db = await createScratchDatabase();
  });
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy().catch(() => undefined);
    ds = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('by default every connection has a statement timeout and a connect timeout', () => {
    const o = dataSourceOptions('postgresql://x@127.0.0.1/y') as { connectTimeoutMS?: number; extra?: object };
    expect(o.connectTimeoutMS).toBe(DEFAULT_LIMITS.connectTimeoutMs);
    expect(o.extra).toEqual({
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 30_000,
      query_timeout: 35_000,
    });
  });

  it('a statement over the timeout is cancelled by PostgreSQL with a clear error; the pool goes on', async () => {
    ds = await openDataSource(db.url, { statementTimeoutMs: 300 });
    const r = await timed(ds.query('SELECT pg_sleep(5)'));
    expect(r.error?.message).toBe('canceling statement due to statement timeout');
    expect(r.error).toMatchObject({ code: '57014' });
    expect(r.ms).toBeLessThan(2000);
    expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('a transaction left idle is ended by PostgreSQL, freeing its connection', async () => {
    ds = await openDataSource(db.url, { statementTimeoutMs: 300 });
    const qr = ds.createQueryRunner();
    await qr.connect();
    await qr.startTransaction();
    await new Promise((r) => setTimeout(r, 800));
    await expect(qr.query('SELECT 1')).rejects.toThrow();
    await qr.release().catch(() => undefined);
    const idle: unknown[] = await ds.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`,
    );
    expect(idle).toEqual([]);
  });

  it('a server that accepts but never answers fails the connect within the bound', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const r = await timed(
        openDataSource(`postgresql://postgres@127.0.0.1:${port}/nova_bm`, { connectTimeoutMs: 500 }),
      );
      expect(r.error?.message).toMatch(/timeout/i);
      expect(r.ms).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a server gone silent (a network partition) fails a query within the bound; the pool then closes at once', async () => {
    // A TCP relay to PostgreSQL that can be frozen: nothing passes any more, nothing is closed.
    const upstream = new URL(db.url);
    const sockets: Socket[] = [];
    let frozen = false;
    const relay: Server = createServer({ allowHalfOpen: true }, (client) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      sockets.push(client, server);
      client.on('data', (d) => frozen || server.write(d));
      server.on('data', (d) => frozen || client.write(d));
      client.on('error', () => undefined);
      server.on('error', () => undefined);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const via = new URL(db.url);
    via.port = String((relay.address() as AddressInfo).port);
    try {
      // The server's 300 ms cannot act (it never sees the query): the client's bound, 5 s later, does.
      ds = await openDataSource(via.toString(), { statementTimeoutMs: 300 });
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      frozen = true;
      const r = await timed(ds.query('SELECT 2'));
      expect(r.error?.message).toMatch(/Query read timeout/);
      expect(r.ms).toBeGreaterThanOrEqual(5000);
      expect(r.ms).toBeLessThan(7000);
      const closing = await timed(ds.destroy());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(1000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => relay.close(r));
    }
  });
});
