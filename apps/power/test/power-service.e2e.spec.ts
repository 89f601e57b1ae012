import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { BmNodePower } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import type { ReceivedNotification, RemoteError } from '@bm/messaging';
import {
  type RpcCaller,
  TEST_AMQP_URL,
  type TestBus,
  eventually,
  openBus,
  uniqueName,
} from '../../../test/support/amqp';
import { ROOT } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type BmcNode, enrollBmcNode } from '../../../test/support/nodes';
import { testPasswordVault } from '../../../test/support/passwords';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// The built power service (dist/apps/power/main.js) on RabbitMQ and PostgreSQL, driving our
// virtual BMCs over real IPMI 2.0; called by a real Python oslo.messaging RPCClient and by ours.
const PY_CLIENT = join(ROOT, 'test/peers/oslo/rpc_client.py');
const run = promisify(execFile);
const HOST = 'cn-power';
const PASSWORD = 'bmc-Secret-9';

describe('power service', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let service: ServiceProcess;
  let bus: TestBus;
  const notes: ReceivedNotification[] = [];
  const exchange = uniqueName('power');
  const nodes: BmcNode[] = [];
  const bmcs = nodes; // the same nodes, where a test is about their BMCs

  // An admin context, as Nova's services send: power's methods that change a node require it.
  const py = async (method: string, kwargs: Record<string, unknown>, context: object = { roles: ['admin'] }) => {
    const { stdout } = await run(
      '/usr/bin/python3',
      [
        PY_CLIENT,
        '--url',
        TEST_AMQP_URL,
        '--exchange',
        exchange,
        '--topic',
        'baremetal-power',
        '--server',
        HOST,
        '--version',
        '1.0',
        '--timeout',
        '20',
        '--context',
        JSON.stringify(context),
        'call',
        method,
        JSON.stringify(kwargs),
      ],
      { timeout: 30_000 },
    );
    return JSON.parse(stdout.trim().split('\n').pop()!) as {
      result?: Record<string, unknown>;
      error?: { exc_type: string; message: string };
    };
  };
  let call: RpcCaller;

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_power');
    ds = db.ds;
    const enroll = new EnrollmentService(ds, HOST, testPasswordVault());
    for (let i = 0; i < 2; i++) nodes.push(await enrollBmcNode(enroll, `52:54:00:70:00:0${i}`, PASSWORD));
    bus = await openBus(exchange, notes);
    call = bus.caller({ topic: 'baremetal-power', server: HOST }, { version: '1.0', timeout: 20 });
    service = startService(
      'power',
      await serviceEnv(
        { databaseUrl: db.url, exchange, host: HOST },
        { BM_POWER_SYNC_INTERVAL: '1', BM_IPMI_DEADLINE: '2' },
      ),
    );
    await service.waitFor('rpc=');
  }, 40_000);

  afterAll(async () => {
    await service?.stop();
    await bus?.close();
    for (const b of bmcs) await b.bmc.stop();
    await db?.drop();
    // The BMC password never reaches the service's logs.
    expect(service.output()).not.toContain(PASSWORD);
  });

  it("refuses to change a node's power for a context without the admin role (Nova's PolicyNotAuthorized)", async () => {
    const refused = await py('power_on', { node: nodes[0].id }, { user_id: 'u1', roles: ['member'] });
    expect(refused.error).toMatchObject({
      exc_type: 'PolicyNotAuthorized',
      message: expect.stringContaining("Policy doesn't allow power_on to be performed."),
    });
    expect(bmcs[0].machine.isPoweredOn()).toBe(false);
  }, 30_000);

  it('a Python oslo client reads the power state, powers on and sets PXE boot', async () => {
    expect((await py('get_power_state', { node: nodes[0].uuid })).result).toEqual({
      node: nodes[0].uuid,
      power_state: 'off',
    });
    expect((await py('power_on', { node: nodes[0].id })).result).toEqual({ node: nodes[0].uuid, power_state: 'on' });
    expect(bmcs[0].machine.isPoweredOn()).toBe(true);
    expect(
      (await py('set_boot_device', { node: nodes[0].uuid, device: 'pxe', persistent: true })).result,
    ).toMatchObject({ boot_device: 'pxe', persistent: true });
    expect(bmcs[0].machine.getBootFlags()).toMatchObject({ device: 'pxe', persistent: true, valid: true });
    // Each call is on the node's timeline, with its duration.
    await eventually(async () => {
      const rows: { kind: string; detail: string; duration_ms: number | null }[] = await ds.query(
        `SELECT kind, detail, duration_ms FROM bm_node_events WHERE node_id = $1 AND kind <> 'power.changed' ORDER BY id`,
        [nodes[0].id],
      );
      expect(rows.map((r) => [r.kind, r.detail])).toEqual([
        ['power.state', 'power state read: node is off'],
        ['power.on', 'power on: node is on'],
        ['power.boot_device', 'boot device pxe persistent'],
      ]);
      expect(rows.every((r) => r.duration_ms !== null && r.duration_ms >= 0)).toBe(true);
    });
  }, 30_000);

  it('power_off and reboot (off, bootdev pxe persistent, on) through our client', async () => {
    expect(await call('power_off', { node: nodes[1].id })).toMatchObject({ power_state: 'off' });
    bmcs[1].machine.events.length = 0;
    expect(await call('reboot', { node: nodes[1].uuid })).toMatchObject({ power_state: 'on' });
    expect(
      bmcs[1].machine.events.map((e) =>
        e.op === 'power' ? e.action : `boot ${e.boot!.device}${e.boot!.persistent ? ' persistent' : ''}`,
      ),
    ).toEqual(['boot pxe persistent', 'on']);
  });

  it('bad arguments and unknown nodes get Nova-named errors', async () => {
    const bad = await call('set_boot_device', { node: nodes[0].id, device: 'usb' }).catch((e: RemoteError) => e);
    expect([bad.name, bad.message]).toEqual([
      'InvalidRpcArguments',
      'Invalid arguments for set_boot_device: device: must be one of none, pxe, disk, safe, diag, cdrom, bios, floppy',
    ]);
    const missing = await call('power_on', { node: 999 }).catch((e: RemoteError) => e);
    expect([missing.name, missing.message]).toEqual(['NodeNotFound', 'Node 999 could not be found.']);
    const pyMissing = await py('get_power_state', { node: 'no-such-node' });
    expect(pyMissing.error).toMatchObject({ exc_type: 'NodeNotFound' });
  });

  it('the power sync records state and latency per node and notifies changes', async () => {
    await eventually(
      async () => {
        const rows = await ds.getRepository(BmNodePower).find({ order: { node_id: 'ASC' } });
        expect(rows.map((r) => [r.node_id, r.power_state, r.error])).toEqual([
          [nodes[0].id, 'on', null],
          [nodes[1].id, 'on', null],
        ]);
        expect(rows.every((r) => r.latency_ms !== null && r.latency_ms < 1000)).toBe(true);
      },
      10_000,
      200,
    );
    bmcs[0].machine.power('off'); // someone pressed the button
    await eventually(
      () =>
        expect(
          notes.map((n) => [
            n.eventType,
            (n.payload as { node_uuid: string; power_state: string }).node_uuid,
            (n.payload as { power_state: string }).power_state,
          ]),
        ).toContainEqual(['baremetal.node.power_state.changed', nodes[0].uuid, 'off']),
      10_000,
      200,
    );
    await eventually(async () =>
      expect(
        await ds.query(`SELECT detail FROM bm_node_events WHERE node_id = $1 AND kind = 'power.changed'`, [
          nodes[0].id,
        ]),
      ).toContainEqual({ detail: 'power state changed from on to off (power sync)' }),
    );
    expect(await ds.query(`SELECT id FROM bm_node_events WHERE detail LIKE $1`, [`%${PASSWORD}%`])).toEqual([]);
  }, 20_000);

  it('a dead BMC backs off and does not delay the others', async () => {
    await bmcs[1].bmc.stop();
    await eventually(
      async () => {
        const r = await ds.getRepository(BmNodePower).findOneByOrFail({ node_id: nodes[1].id });
        expect(r.failures).toBeGreaterThanOrEqual(1);
        expect(r.error).toMatch(/BmcUnreachable|no answer/);
        expect(r.next_check_at.getTime() - r.checked_at.getTime()).toBeGreaterThanOrEqual(2000);
      },
      15_000,
      200,
    );
    // The live node is still read at the normal pace.
    const before = (await ds.getRepository(BmNodePower).findOneByOrFail({ node_id: nodes[0].id })).checked_at.getTime();
    await eventually(
      async () => {
        const now = (
          await ds.getRepository(BmNodePower).findOneByOrFail({ node_id: nodes[0].id })
        ).checked_at.getTime();
        expect(now).toBeGreaterThan(before);
      },
      5_000,
      200,
    );
  }, 30_000);

  it('SIGTERM: the service closes its IPMI sessions (Close Session) before it exits 0', async () => {
    const live = bmcs[0].bmc;
    await eventually(() => expect(live.sessionCount).toBeGreaterThan(0), 10_000, 100); // the power sync holds one
    const exited = service.stop();
    expect(await exited).toBe(0);
    expect(live.sessionCount).toBe(0);
  }, 20_000);
});
