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

async function answer(amqp: Partial<AmqpConnection>): Promise<{ code: number; body: Record<string, unknown> }> {
  const running = new Lifecycle();
  running.phase = 'running';
  const c = new HealthController('power', ds, amqp as AmqpConnection, running);
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
});
