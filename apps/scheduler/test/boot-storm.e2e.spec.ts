import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { EnrollmentService } from '@bm/enrollment';
import type { VirtualBmc } from '@bm/ipmi';
import { type AmqpConnection, type ReceivedNotification, RpcClient } from '@bm/messaging';
import { type TestBus, eventually, openBus, uniqueName, watchFanout } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { enrollBmcNode } from '../../../test/support/nodes';
import { testPasswordVault } from '../../../test/support/passwords';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// 200 boot requests for 50 matching nodes at once, through the whole chain: scheduler run_instance
// casts → BaremetalHostManager → compute run_instance (atomic claim) → netboot + power (IPMI to 50
// virtual BMCs). Exactly 50 instances get a node, 150 get NoValidHost, no node is claimed twice.
const HOST = 'cn-storm';
const PASSWORD = 'bmc-Storm-1';
const NODES = 50;
const REQUESTS = 200;
const FLAVOR = {
  name: 'bm.small',
  vcpus: 1,
  memory_mb: 512,
  root_gb: 5,
  ephemeral_gb: 0,
  swap: 0,
  extra_specs: { cpu_arch: 'x86_64' },
};

describe('boot storm: 200 requests, 50 nodes', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let work: string;
  const services: ServiceProcess[] = [];
  const bmcs: VirtualBmc[] = [];
  let bus: TestBus;
  let conn: AmqpConnection;
  const notes: ReceivedNotification[] = [];
  const exchange = uniqueName('storm');
  let images: TestImages;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'storm-'));
    db = await createNovaBmDatabase('bm_storm');
    ds = db.ds;
    const enroll = new EnrollmentService(ds, HOST, testPasswordVault());
    for (let i = 0; i < NODES; i++) {
      const mac = `52:54:00:c0:00:${i.toString(16).padStart(2, '0')}`;
      bmcs.push((await enrollBmcNode(enroll, mac, PASSWORD, { cpu_arch: 'x86_64' })).bmc);
    }
    bus = await openBus(exchange, notes);
    conn = bus.conn;
    const site = { databaseUrl: db.url, exchange, host: HOST };
    images = await startTestImages(site, join(work, 'images'));
    const deployPair = { BM_DEPLOY_KERNEL: images.ids.deploy_kernel, BM_DEPLOY_RAMDISK: images.ids.deploy_ramdisk };
    services.push(startService('power', await serviceEnv(site, { BM_IPMI_DEADLINE: '10' })));
    services.push(
      startService('netboot', await serviceEnv(site, { BM_TFTP_ROOT: join(work, 'tftpboot'), ...images.env })),
    );
    services.push(
      startService('compute', await serviceEnv(site, { BM_PXE_DEPLOY_TIMEOUT: '120', ...images.env, ...deployPair })),
    );
    for (const s of services) await s.waitFor('rpc=');
    // The scheduler starts once compute has recorded every node, and loads them from compute_nodes.
    await eventually(
      async () =>
        expect(Number((await ds.query('SELECT count(*) AS n FROM compute_nodes WHERE deleted = false'))[0].n)).toBe(
          NODES,
        ),
      20_000,
      200,
    );
    const scheduler = startService('scheduler', await serviceEnv(site));
    services.push(scheduler);
    await scheduler.waitFor('rpc=');
    expect(scheduler.output()).toContain(`${NODES} node(s) from compute_nodes`);
  }, 90_000);

  afterAll(async () => {
    for (const s of services) await s.stop();
    await images?.stop();
    await bus?.close();
    for (const b of bmcs) await b.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const image = () => images.meta();
  const count = async (where: string) =>
    Number((await ds.query(`SELECT count(*) AS n FROM bm_nodes WHERE ${where}`))[0].n);

  it('a failed claim goes back to the scheduler, which picks another node (RetryFilter)', async () => {
    const rpc = new RpcClient(conn, { exchange });
    // Behind the scheduler's back (no report), the node it would pick first gets an instance.
    const [first] = await ds.query('SELECT id, uuid FROM bm_nodes ORDER BY uuid LIMIT 1');
    await ds.query(`UPDATE bm_nodes SET instance_uuid = $2, task_state = 'active' WHERE id = $1`, [
      first.id,
      randomUUID(),
    ]);
    const uuid = randomUUID();
    await rpc.cast(
      { topic: 'scheduler' },
      'run_instance',
      {
        request_spec: {
          instance_properties: { uuid, hostname: 'retry-me' },
          instance_type: FLAVOR,
          image: image(),
          num_instances: 1,
        },
        filter_properties: {},
      },
      { version: '4.0' },
    );
    await eventually(
      async () => expect(await count(`instance_uuid = '${uuid}' AND task_state = 'prepared'`)).toBe(1),
      20_000,
      200,
    );
    const scheduled = notes.filter(
      (n) =>
        n.eventType === 'scheduler.run_instance.scheduled' &&
        (n.payload as { instance_id: string }).instance_id === uuid,
    );
    expect(scheduled.map((n) => (n.payload as { node: string }).node)).toEqual([
      first.uuid,
      expect.not.stringMatching(first.uuid),
    ]);
    expect(scheduled[0].payload).toMatchObject({
      weighted_host: { host: HOST, nodename: first.uuid },
      request_spec: { instance_properties: { uuid } },
    });
    // Nova's filter scheduler brackets each request (the first pick and the retry) with start and end.
    const mine = (t: string) =>
      notes.filter(
        (n) =>
          n.eventType === t &&
          (n.payload as { request_spec: { instance_properties: { uuid: string } } }).request_spec.instance_properties
            .uuid === uuid,
      );
    expect([mine('scheduler.run_instance.start').length, mine('scheduler.run_instance.end').length]).toEqual([2, 2]);
    expect(
      notes.some(
        (n) =>
          n.eventType === 'compute.instance.create.error' &&
          (n.payload as { exception: string }).exception === 'NodeAssociated',
      ),
    ).toBe(true);

    // Put everything back: the instance terminated, the stray association cleared; wait for the reports.
    const fanout = await watchFanout(conn, 'scheduler');
    await rpc.call(
      { topic: 'compute', server: HOST },
      'terminate_instance',
      { instance: { uuid } },
      { version: '6.0', timeout: 20 },
    );
    await ds.query(
      `UPDATE bm_nodes SET instance_uuid = NULL, task_state = 'deleted', updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1`,
      [first.id],
    );
    await eventually(
      async () =>
        expect(Number((await ds.query('SELECT count(*) AS n FROM compute_nodes WHERE vcpus_used = 0'))[0].n)).toBe(
          NODES,
        ),
      20_000,
      200,
    );
    // …and until the scheduler was sent a report with every node free (it takes it before any later request).
    await eventually(
      () =>
        expect(
          fanout.messages.some((m) => {
            const a = m.args as { host?: string; capabilities?: { vcpus_used: number }[] } | undefined;
            return (
              m.method === 'update_service_capabilities' &&
              a?.host === HOST &&
              a.capabilities?.length === NODES &&
              a.capabilities.every((c) => c.vcpus_used === 0)
            );
          }),
        ).toBe(true),
      20_000,
      100,
    ).finally(() => fanout.stop());
  }, 60_000);

  it('exactly 50 instances get a node, 150 NoValidHost, no node twice; the 50 go active after their deploy', async () => {
    const rpc = new RpcClient(conn, { exchange });
    notes.length = 0;
    const instances = Array.from({ length: REQUESTS }, () => randomUUID());
    await Promise.all(
      instances.map((uuid) =>
        rpc.cast(
          { topic: 'scheduler' },
          'run_instance',
          {
            request_spec: {
              instance_properties: { uuid, hostname: `storm-${uuid.slice(0, 8)}` },
              instance_type: FLAVOR,
              image: image(),
              num_instances: 1,
            },
            filter_properties: {},
          },
          { version: '4.0' },
        ),
      ),
    );

    const refused = () => notes.filter((n) => n.eventType === 'scheduler.run_instance' && n.priority === 'ERROR');
    await eventually(() => expect(refused()).toHaveLength(REQUESTS - NODES), 30_000, 200).catch((e: Error) => {
      const lines = services.flatMap((p) => p.output().split('\n')).filter((l) => /rescheduling|WARN|ERROR/.test(l));
      throw new Error(`${e.message.slice(0, 200)}\n${lines.slice(-20).join('\n')}`);
    });
    expect(refused().every((n) => String((n.payload as { exception: string }).exception) === 'NoValidHost')).toBe(true);

    // Every claimed node is prepared; the test plays the deploy helper for all of them.
    await eventually(async () => expect(await count(`task_state = 'prepared'`)).toBe(NODES), 90_000, 500);
    await ds.query(`UPDATE bm_nodes SET task_state = 'deploy complete' WHERE task_state = 'prepared'`);
    await eventually(async () => expect(await count(`task_state = 'active'`)).toBe(NODES), 30_000, 500);

    const rows: { instance_uuid: string }[] = await ds.query(
      'SELECT instance_uuid FROM bm_nodes WHERE instance_uuid IS NOT NULL',
    );
    expect(rows).toHaveLength(NODES);
    expect(new Set(rows.map((r) => r.instance_uuid)).size).toBe(NODES);
    const winners = new Set(rows.map((r) => r.instance_uuid));
    const losers = new Set(refused().map((n) => (n.payload as { instance_id: string }).instance_id));
    expect([...winners].filter((w) => losers.has(w))).toEqual([]);
    expect(winners.size + losers.size).toBe(REQUESTS);
    expect(notes.filter((n) => n.eventType === 'compute.instance.create.end')).toHaveLength(NODES);
  }, 180_000);
});
