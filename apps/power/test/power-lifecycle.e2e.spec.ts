import type { PowerAction } from '@bm/ipmi';
import { SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import { EnrollmentService } from '@bm/enrollment';
import { TEST_AMQP_URL, type TestBus, eventually, openBus, uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { SMALL_NODE } from '../../../test/support/nodes';
import { testPasswordVault } from '../../../test/support/passwords';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';
import { TcpRelay } from '../../../test/support/tcp-relay';

// The built power service's life: it waits (forever) for a broker and a database that are not
// there yet, saying so on /healthz; on SIGTERM it finishes the request it is working on.
const TOPIC = 'baremetal-power';
const PASSWORD = 'bmc-Secret-7';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthz(port: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** A machine that takes `ms` to come on after the BMC's power-on command, as real ones do. */
class SlowMachine extends SimulatedMachine {
  commanded = false;
  constructor(private readonly ms: number) {
    super();
  }
  override power(action: PowerAction): void {
    if (action !== 'on') return super.power(action);
    this.commanded = true;
    setTimeout(() => super.power(action), this.ms);
  }
}

describe('power service lifecycle', () => {
  let db: NovaBmDatabase;
  let bus: TestBus;
  const exchange = uniqueName('plife');
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_plife');
    bus = await openBus(exchange);
  });
  afterAll(async () => {
    for (const s of services) await s.stop();
    await bus?.close();
    await db?.drop();
  });

  it('waits for a broker and a database that are down at start, answering 503 naming them', async () => {
    const amqp = new URL(TEST_AMQP_URL);
    const pg = new URL(db.url);
    const brokerRelay = new TcpRelay({ host: amqp.hostname, port: Number(amqp.port || 5672) });
    const dbRelay = new TcpRelay({ host: pg.hostname, port: Number(pg.port || 5432) });
    amqp.port = String(await brokerRelay.start());
    pg.port = String(await dbRelay.start());
    const host = uniqueName('cn-wait');
    const env = await serviceEnv(
      { databaseUrl: pg.toString(), exchange, host },
      { TRANSPORT_URL: amqp.toString(), BM_POWER_SYNC_INTERVAL: '0' },
    );
    const service = startService('power', env);
    services.push(service);
    try {
      const started = Date.now();
      const first = await eventually(() => healthz(env.BM_HEALTH_PORT), 10_000, 200);
      expect(first.status).toBe(503);
      expect(first.body).toMatchObject({ service: 'power', status: 'starting', missing: ['broker', 'database'] });
      // Well past the 5 attempts (~6 s) after which the broker used to be given up.
      while (Date.now() - started < 9_000) {
        expect((await healthz(env.BM_HEALTH_PORT)).status).toBe(503);
        expect(service.child.exitCode).toBeNull();
        await sleep(500);
      }
      expect(brokerRelay.refused).toBeGreaterThanOrEqual(5);
      dbRelay.open = true;
      await eventually(
        async () => expect((await healthz(env.BM_HEALTH_PORT)).body).toMatchObject({ missing: ['broker'] }),
        10_000,
        200,
      );
      brokerRelay.open = true;
      const opened = Date.now();
      await eventually(
        async () =>
          expect(await healthz(env.BM_HEALTH_PORT)).toMatchObject({ status: 200, body: { status: 'ok', missing: [] } }),
        15_000,
        200,
      );
      process.stdout.write(
        `power waited ${opened - started} ms for its broker; healthy ${Date.now() - opened} ms after it came\n`,
      );
      await service.waitFor('rpc=');
      expect(await service.stop()).toBe(0);
    } finally {
      await service.stop();
      await brokerRelay.stop();
      await dbRelay.stop();
    }
  }, 60_000);

  it('a SIGTERM while it waits for its broker ends it at once with 0', async () => {
    const relay = new TcpRelay({ host: '127.0.0.1', port: 5672 });
    const amqp = new URL(TEST_AMQP_URL);
    amqp.port = String(await relay.start());
    const env = await serviceEnv(
      { databaseUrl: db.url, exchange, host: uniqueName('cn-wait') },
      { TRANSPORT_URL: amqp.toString(), BM_POWER_SYNC_INTERVAL: '0' },
    );
    const service = startService('power', env);
    services.push(service);
    try {
      await eventually(
        async () => expect((await healthz(env.BM_HEALTH_PORT)).body).toMatchObject({ missing: ['broker'] }),
        15_000,
        200,
      );
      const t = Date.now();
      expect(await service.stop()).toBe(0);
      expect(Date.now() - t).toBeLessThan(2000);
      expect(service.output()).toContain('SIGTERM while starting (missing: broker): exiting');
    } finally {
      await relay.stop();
    }
  }, 30_000);

  it('on SIGTERM finishes the power_on in flight, leaves queued requests, and exits 0', async () => {
    const machine = new SlowMachine(3000);
    const bmc = new VirtualBmc({ port: 0, users: { admin: PASSWORD }, machine });
    await bmc.start();
    const host = uniqueName('cn-drain');
    const queue = `${TOPIC}.${host}`;
    try {
      const node = await new EnrollmentService(db.ds, host, testPasswordVault()).createNode({
        ...SMALL_NODE,
        macs: ['52:54:00:71:00:01'],
        pm_address: `127.0.0.1:${bmc.port}`,
        pm_user: 'admin',
        pm_password: PASSWORD,
      });
      const service = startService(
        'power',
        await serviceEnv(
          { databaseUrl: db.url, exchange, host },
          { BM_POWER_SYNC_INTERVAL: '0', BM_GRACEFUL_SHUTDOWN_TIMEOUT: '20' },
        ),
      );
      services.push(service);
      await service.waitFor('rpc=');
      const call = bus.rpc.call<Record<string, unknown>>(
        { topic: TOPIC, server: host },
        'power_on',
        { node: node.id },
        { version: '1.0', timeout: 30, context: { roles: ['admin'], is_admin: true } },
      );
      await eventually(() => expect(machine.commanded).toBe(true), 10_000);
      const term = Date.now();
      service.child.kill('SIGTERM');
      // Once the service stopped consuming, a request sent to it stays queued for the next one.
      const ch = await bus.conn.channel();
      await eventually(async () => expect((await ch.checkQueue(queue)).consumerCount).toBe(0), 10_000, 100);
      await bus.rpc.cast({ topic: TOPIC, server: host }, 'get_power_state', { node: node.id }, { version: '1.0' });
      expect(await call).toEqual({ node: node.uuid, power_state: 'on' });
      expect(await service.exited).toBe(0);
      const drained = Date.now() - term;
      expect(drained).toBeLessThan(20_000);
      expect((await ch.checkQueue(queue)).messageCount).toBe(1);
      process.stdout.write(`power drained a power_on in flight in ${drained} ms after SIGTERM\n`);
      expect(service.output()).toMatch(/SIGTERM: stopping/);
      await ch.deleteQueue(queue);
      await ch.close();
    } finally {
      await bmc.stop();
    }
  }, 60_000);
});
