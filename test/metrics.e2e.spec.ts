import { EnrollmentService } from '@bm/enrollment';
import { type RpcCaller, type TestBus, eventually, openBus, uniqueName } from './support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from './support/database';
import { type BmcNode, enrollBmcNode } from './support/nodes';
import { testPasswordVault } from './support/passwords';
import { freeTcpPort } from './support/ports';
import { type Exposition, scrape } from './support/prometheus';
import { type ServiceProcess, serviceEnv, siteJobQueue, startService } from './support/service';

// /metrics (Prometheus's text format, parsed back by test/support/prometheus.ts) and the split
// /healthz of the built services: every service exposes its metrics; the power service's
// counters move with power calls to virtual BMCs, its power sync and a BMC that dies; liveness
// answers 200 while readiness answers 503 for a service whose database is unreachable.
const HOST = 'cn-metrics';
const PASSWORD = 'bmc-Metrics-7';

/** Every service, with the bm_ metrics it must show from its start. */
const SERVICES: [string, string[]][] = [
  ['compute', ['bm_spawns_total', 'bm_spawn_phase_seconds']],
  ['scheduler', []],
  ['power', ['bm_power_sync_duration_seconds', 'bm_power_sync_errors_total', 'bm_ipmi_sessions_total']],
  ['netboot', ['bm_dhcp_packets_total', 'bm_tftp_transfers_total', 'bm_tftp_bytes_total']],
  ['deploy-helper', ['bm_deploy_bytes_total', 'bm_deploy_duration_seconds']],
  ['images', []],
];
/** The queues whose depth each service reports (bm_queue_messages): its RPC topic's, its jobs'. */
const QUEUES: Record<string, (jobQueue: string) => string[]> = {
  compute: () => ['compute', `compute.${HOST}`],
  scheduler: () => ['scheduler', `scheduler.${HOST}`],
  power: () => ['baremetal-power', `baremetal-power.${HOST}`],
  netboot: () => ['baremetal-netboot', `baremetal-netboot.${HOST}`],
  'deploy-helper': (jobs) => [jobs, `${jobs}.dead`],
  images: () => [],
};
/** What every service shows. */
const COMMON = [
  'bm_rpc_calls_total',
  'bm_rpc_call_duration_seconds',
  'bm_rpc_client_calls_total',
  'bm_rpc_client_casts_total',
  'bm_queue_messages',
];

async function ready(port: number): Promise<void> {
  await eventually(
    async () => expect((await fetch(`http://127.0.0.1:${port}/healthz/ready`)).status).toBe(200),
    20_000,
    200,
  );
}

describe('/metrics and /healthz/{live,ready} of the built services', () => {
  let db: NovaBmDatabase;
  const exchange = uniqueName('metrics');
  const site = () => ({ databaseUrl: db.url, exchange, host: HOST });

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_metrics');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it.each(SERVICES)(
    '%s serves /metrics: the process metrics, the RPC and queue metrics, its own',
    async (app, own) => {
      const port = await freeTcpPort();
      const p = startService(
        app,
        await serviceEnv(site(), {
          BM_HEALTH_PORT: String(port),
          // Ports of their own, free: nothing else of the machine is in the way.
          BM_CALLBACK_PORT: String(await freeTcpPort()),
          BM_API_PORT: String(await freeTcpPort()),
          BM_DATA_DIR: `/tmp/${uniqueName('metrics-images')}`,
        }),
      );
      try {
        await ready(port);
        const r = await fetch(`http://127.0.0.1:${port}/metrics`);
        expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
        const e = await scrape(`http://127.0.0.1:${port}/metrics`);
        expect(e.value('process_resident_memory_bytes')).toBeGreaterThan(0);
        expect(e.families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
        for (const name of [...COMMON, ...own])
          expect([name, (e.families.get(name)?.help ?? '') !== '']).toEqual([name, true]);
        // Only what the service does: no spawn metrics on the power service, and so on.
        const others = SERVICES.filter(([a]) => a !== app).flatMap(([, names]) => names);
        for (const name of others) expect(e.families.has(name)).toBe(false);
        expect(e.find('bm_queue_messages').map((x) => x.labels.queue)).toEqual(QUEUES[app](siteJobQueue(site())));
        expect((await fetch(`http://127.0.0.1:${port}/healthz/live`)).status).toBe(200);
      } finally {
        await p.stop();
      }
    },
    40_000,
  );

  describe('the power service with two virtual BMCs', () => {
    let service: ServiceProcess;
    let bus: TestBus;
    let call: RpcCaller;
    let url: string;
    const nodes: BmcNode[] = [];

    beforeAll(async () => {
      const enroll = new EnrollmentService(db.ds, HOST, testPasswordVault());
      for (let i = 0; i < 2; i++) nodes.push(await enrollBmcNode(enroll, `52:54:00:72:00:0${i}`, PASSWORD));
      bus = await openBus(exchange);
      call = bus.caller({ topic: 'baremetal-power', server: HOST }, { version: '1.0', timeout: 20 });
      const port = await freeTcpPort();
      url = `http://127.0.0.1:${port}/metrics`;
      service = startService(
        'power',
        await serviceEnv(site(), {
          BM_HEALTH_PORT: String(port),
          BM_POWER_SYNC_INTERVAL: '1',
          BM_IPMI_DEADLINE: '2',
        }),
      );
      await service.waitFor('rpc=');
    }, 40_000);

    afterAll(async () => {
      await service?.stop();
      await bus?.close();
      for (const n of nodes) await n.bmc.stop();
    });

    it('power calls move the RPC counters and histograms, by method and outcome', async () => {
      const before = await scrape(url);
      expect(await call('power_on', { node: nodes[0].id })).toMatchObject({ power_state: 'on' });
      expect(await call('power_off', { node: nodes[0].id })).toMatchObject({ power_state: 'off' });
      expect(await call('power_on', { node: nodes[0].id })).toMatchObject({ power_state: 'on' });
      await expect(call('power_on', { node: 999 })).rejects.toMatchObject({ name: 'NodeNotFound' });
      const after = await scrape(url);
      const moved = (e: Exposition, name: string, labels: Record<string, string>) =>
        e.value(name, labels) - before.value(name, labels);
      expect(moved(after, 'bm_rpc_calls_total', { method: 'power_on', outcome: 'ok' })).toBe(2);
      expect(moved(after, 'bm_rpc_calls_total', { method: 'power_off', outcome: 'ok' })).toBe(1);
      expect(moved(after, 'bm_rpc_calls_total', { method: 'power_on', outcome: 'not_found' })).toBe(1);
      expect(moved(after, 'bm_rpc_call_duration_seconds_count', { method: 'power_on' })).toBe(3);
      expect(moved(after, 'bm_rpc_call_duration_seconds_bucket', { method: 'power_on', le: '+Inf' })).toBe(3);
      expect(moved(after, 'bm_rpc_call_duration_seconds_sum', { method: 'power_on' })).toBeGreaterThan(0);
      // Each BMC logged in once at least (the sync and the calls share the held session).
      expect(after.value('bm_ipmi_sessions_total')).toBeGreaterThanOrEqual(2);
      // The service's own queues, read from the broker: nothing waiting.
      expect(after.find('bm_queue_messages').map((s) => [s.labels.queue, s.value])).toEqual([
        ['baremetal-power', 0],
        [`baremetal-power.${HOST}`, 0],
      ]);
    }, 30_000);

    it('the power sync: its sweeps timed, a dead BMC counted by address, with retransmits', async () => {
      const before = await scrape(url);
      await eventually(
        async () =>
          expect((await scrape(url)).value('bm_power_sync_duration_seconds_count')).toBeGreaterThan(
            before.value('bm_power_sync_duration_seconds_count'),
          ),
        10_000,
        200,
      );
      const dead = nodes[1];
      const bmc = `127.0.0.1:${dead.bmc.port}`;
      expect(before.value('bm_power_sync_errors_total', { bmc })).toBe(0);
      await dead.bmc.stop();
      await eventually(
        async () => expect((await scrape(url)).value('bm_power_sync_errors_total', { bmc })).toBeGreaterThanOrEqual(1),
        15_000,
        200,
      );
      const after = await scrape(url);
      expect(after.value('bm_ipmi_retransmits_total')).toBeGreaterThan(before.value('bm_ipmi_retransmits_total'));
      // The live BMC has no error.
      expect(after.value('bm_power_sync_errors_total', { bmc: `127.0.0.1:${nodes[0].bmc.port}` })).toBe(0);
    }, 30_000);
  });

  it('database unreachable: liveness 200, readiness (and /healthz) 503 naming it, /metrics served; health_host honoured', async () => {
    const closed = await freeTcpPort(); // nothing listens there
    const port = await freeTcpPort();
    const p = startService(
      'power',
      await serviceEnv(
        { ...site(), databaseUrl: `postgresql://postgres@127.0.0.1:${closed}/nova_bm` },
        // Another loopback address: the option is what decides where the server listens.
        { BM_HEALTH_PORT: String(port), BM_HEALTH_HOST: '127.0.0.2' },
      ),
    );
    const base = `http://127.0.0.2:${port}`;
    try {
      const live = await eventually(
        async () => {
          const r = await fetch(`${base}/healthz/live`);
          expect(r.status).toBe(200);
          return (await r.json()) as Record<string, unknown>;
        },
        15_000,
        200,
      );
      expect(live).toMatchObject({ service: 'power', status: 'alive' });
      for (const path of ['/healthz/ready', '/healthz']) {
        const r = await fetch(`${base}${path}`);
        expect([path, r.status]).toEqual([path, 503]);
        const body = (await r.json()) as { missing: string[]; database: { error?: string } };
        expect(body.missing).toContain('database');
        expect(body.database.error ?? '').toMatch(/ECONNREFUSED/);
      }
      const e = await scrape(`${base}/metrics`);
      expect(e.value('process_resident_memory_bytes')).toBeGreaterThan(0);
      // Not on 127.0.0.1: only where health_host says.
      await expect(fetch(`http://127.0.0.1:${port}/healthz/live`)).rejects.toThrow();
    } finally {
      expect(await p.stop()).toBe(0);
    }
  }, 30_000);
});
