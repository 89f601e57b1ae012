import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDataSource, syncSchema, LATEST_VERSION } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { AmqpConnection, RpcClient } from '@bm/messaging';
import { TEST_AMQP_URL, uniqueName } from './support/amqp';
import { createScratchDatabase, type ScratchDatabase } from './support/database';
import { freeTcpPort } from './support/ports';
import { startService } from './support/service';
import { projects } from '../nest-cli.json';

// Each service starts as `node dist/apps/<app>/main.js` (after npm run build), answers
// /healthz, and stops cleanly on SIGTERM.
const ROOT = resolve(__dirname, '..');
const SERVICES = Object.entries(projects)
  .filter(([name, p]) => p.type === 'application' && name !== 'cli')
  .map(([name]) => name);

const start = startService;

async function health(port: number, deadlineMs = 20_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = (await r.json()) as Record<string, unknown>;
      // 503 `starting` while the process waits for its database and broker: not the app's answer yet.
      if (body.status !== 'starting' || Date.now() > until) return { status: r.status, body };
      await new Promise((r) => setTimeout(r, 200));
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('service processes', () => {
  let db: ScratchDatabase;

  beforeAll(async () => {
    for (const app of SERVICES) {
      if (!existsSync(join(ROOT, 'dist/apps', app, 'main.js')))
        throw new Error(`dist/apps/${app}/main.js missing: npm run build`);
    }
    db = await createScratchDatabase('bm_svc');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('has the seven services of the architecture', () => {
    expect(SERVICES.sort()).toEqual(['compute', 'deploy-helper', 'images', 'netboot', 'power', 'rack', 'scheduler']);
  });

  it('reports 503 until the schema is migrated, then 200; stops on SIGTERM', async () => {
    const port = await freeTcpPort();
    const exchange = uniqueName('svc');
    const p = start('compute', {
      DATABASE_URL: db.url,
      TRANSPORT_URL: TEST_AMQP_URL,
      BM_HEALTH_PORT: String(port),
      BM_HOST: 'cn-svc',
      BM_CONTROL_EXCHANGE: exchange,
    });
    try {
      const before = await health(port);
      expect(before.status).toBe(503);
      expect(before.body).toMatchObject({
        service: 'compute',
        status: 'degraded',
        database: { reachable: true, schema_version: 0 },
      });
      const ds = await openDataSource(db.url);
      await syncSchema(ds);
      await ds.destroy();
      const after = await health(port);
      expect([after.status, after.body]).toEqual([
        200,
        {
          service: 'compute',
          status: 'ok',
          missing: [],
          database: { reachable: true, schema_version: LATEST_VERSION, latest: LATEST_VERSION },
          broker: { connected: true },
        },
      ]);

      // compute serves oslo RPC on compute.<host>: its nodes, from the database.
      const ds2 = await openDataSource(db.url);
      const node = await new EnrollmentService(ds2, 'cn-svc').createNode({
        macs: ['52:54:00:ee:00:01'],
        cpus: 1,
        memory_mb: 512,
        local_gb: 5,
        pm_address: '10.0.0.1',
      });
      await ds2.destroy();
      const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
      try {
        const nodes = await new RpcClient(conn, { exchange, timeout: 10 }).call(
          { topic: 'compute', server: 'cn-svc' },
          'get_available_nodes',
          {},
          { version: '6.0' },
        );
        expect(nodes).toEqual([node.uuid]);
      } finally {
        await conn.close();
      }
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('host=cn-svc');
    expect(p.output()).toContain(`rpc=${exchange}/compute.cn-svc`);
  });

  it.each(SERVICES)('%s starts from dist/, answers /healthz and stops on SIGTERM', async (app) => {
    const port = await freeTcpPort();
    const p = start(app, { DATABASE_URL: db.url, BM_HEALTH_PORT: String(port) });
    try {
      const h = await health(port);
      expect([h.status, h.body.service]).toEqual([200, app]);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
    expect(p.output()).not.toMatch(/error/i);
  });

  it('exits 3 with the reason when the configuration is bad', async () => {
    const p = start('power', { BM_CONFIG_FILE: join(ROOT, 'libs/config/test-fixtures/nova.conf.sample') });
    expect(await p.exited).toBe(3);
    expect(p.output()).toMatch(/sql_connection: mysql:\/\/ is not supported yet/);
  });
});
