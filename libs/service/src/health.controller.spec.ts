import { HttpException } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { MIGRATIONS } from '@bm/db';
import type { AmqpConnection } from '@bm/messaging';
import { HealthController } from './health.controller';
import { Lifecycle } from './lifecycle';

/** A database with every migration applied. */
const ds = {
  query: async (sql: string) =>
    sql.includes('to_regclass') ? [{ t: 'migrations' }] : MIGRATIONS.map((m) => ({ name: m.migration.name })),
} as unknown as DataSource;

/** A database that does not answer. */
const unreachable = {
  query: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')),
} as unknown as DataSource;

async function answer(
  amqp: Partial<AmqpConnection>,
  database = ds,
): Promise<{ code: number; body: Record<string, unknown> }> {
  const running = new Lifecycle();
  running.phase = 'running';
  const c = new HealthController('power', database, amqp as AmqpConnection, running);
  try {
    return { code: 200, body: (await c.health()) as unknown as Record<string, unknown> };
  } catch (e) {
    return {
      code: (e as HttpException).getStatus(),
      body: (e as HttpException).getResponse() as Record<string, unknown>,
    };
  }
}

describe('/healthz', () => {
  it('is 200 when the broker is connected and takes our publishes', async () => {
    const r = await answer({ connected: true, blocked: undefined });
    expect(r).toMatchObject({ code: 200, body: { status: 'ok', broker: { connected: true } } });
  });

  it("is 503 degraded, saying why, while the broker's alarm blocks our publishes", async () => {
    const r = await answer({ connected: true, blocked: 'low on memory' });
    expect(r).toMatchObject({
      code: 503,
      body: { status: 'degraded', missing: [], broker: { connected: true, blocked: 'low on memory' } },
    });
  });

  it('readiness is 503 with the database named when it does not answer', async () => {
    const r = await answer({ connected: true, blocked: undefined }, unreachable);
    expect(r).toMatchObject({
      code: 503,
      body: {
        status: 'degraded',
        missing: ['database'],
        database: { reachable: false, error: expect.stringContaining('ECONNREFUSED') },
      },
    });
  });
});

describe('/healthz/live', () => {
  it('is 200 whatever the database and the broker do: the process answers', () => {
    const running = new Lifecycle();
    running.phase = 'running';
    const c = new HealthController('power', unreachable, { connected: false } as AmqpConnection, running);
    expect(c.live()).toMatchObject({ service: 'power', status: 'alive', phase: 'running' });
    running.phase = 'stopping';
    expect(c.live()).toMatchObject({ status: 'alive', phase: 'stopping' });
  });
});
