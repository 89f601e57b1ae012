import * as amqp from 'amqplib';
import { BROKER_TOPICS, POWER, SCHEDULER, SchedulerClient } from '@bm/contracts';
import type { ResourceDict } from '@bm/domain';
import { EnrollmentService } from '@bm/enrollment';
import { CommandRunner } from '@bm/exec';
import {
  AmqpConnection,
  RpcClient,
  brokerUsers,
  buildCall,
  buildCast,
  decodeEnvelope,
  encodeEnvelope,
  importBrokerUsers,
  newBrokerPassword,
  parseTransportUrl,
  publishProperties,
} from '@bm/messaging';
import { TEST_AMQP_URL, eventually, uniqueName } from './support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from './support/database';
import { type ServiceProcess, serviceEnv, startService } from './support/service';

// The built compute, scheduler and power services, each logged in as its own broker user (the
// permissions of libs/messaging broker-users.ts, imported with rabbitmqctl as
// `scripts/services.sh broker-users` does) with the sender checks on, as the lab runs them: they
// work together, and the forgeries of issue #15 are refused.
const HOST = 'cn-auth';
const runner = new CommandRunner();
async function rabbitmqctl(args: readonly string[], input?: string): Promise<void> {
  const r = await runner.run('rabbitmqctl', args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`rabbitmqctl ${args[0]}: ${r.stderr || r.stdout}`);
}

const broker = parseTransportUrl(TEST_AMQP_URL).hosts[0];
const vhost = uniqueName('bm_auth');
const prefix = `${uniqueName('e')}-`;
const o = { vhost, exchange: 'nova', computeHosts: [HOST], prefix, topics: BROKER_TOPICS, jobQueue: 'jobs' };
const users = brokerUsers(o);
const passwords = Object.fromEntries(users.map((u) => [u.name, newBrokerPassword()]));
const userOf = (role: string) => users.find((u) => u.role === role)!.name;
const urlOf = (role: string) =>
  `rabbit://${userOf(role)}:${passwords[userOf(role)]}@${broker.host}:${broker.port}/${vhost}`;

describe('services on their own broker users', () => {
  let db: NovaBmDatabase;
  let compute: ServiceProcess;
  let scheduler: ServiceProcess;
  let power: ServiceProcess;
  const conns: AmqpConnection[] = [];
  const uuids: string[] = [];
  const rpcAs = async (role: string) => {
    const c = await AmqpConnection.open({ url: urlOf(role) });
    conns.push(c);
    return new RpcClient(c, { exchange: 'nova', timeout: 10 });
  };
  const flavor = { memory_mb: 1024, root_gb: 10, ephemeral_gb: 0, swap: 0, vcpus: 1, extra_specs: {} };
  const select = async () =>
    (await rpcAs('operator'))
      .call<{ host: string; nodename: string }[]>(
        { topic: SCHEDULER.topic },
        SCHEDULER.methods.selectDestinations,
        {
          request_spec: { instance_type: flavor, num_instances: 1, image: { id: 'img' }, instance_properties: {} },
          filter_properties: {},
        },
        { version: SCHEDULER.version, timeout: 10 },
      )
      .then(
        (d) => d.map((x) => `${x.host}/${x.nodename}`),
        (e: Error) => e.name,
      );

  beforeAll(async () => {
    await importBrokerUsers(rabbitmqctl, o, users, passwords);
    db = await createNovaBmDatabase('bm_auth');
    // Two equal nodes: each select_destinations takes one.
    for (const i of [1, 2]) {
      const n = await new EnrollmentService(db.ds, HOST).createNode({
        macs: [`52:54:00:93:00:0${i}`],
        cpus: 1,
        memory_mb: 1024,
        local_gb: 10,
        pm_address: `10.0.0.${i}`,
        cpu_arch: 'x86_64',
      });
      uuids.push(n.uuid!);
    }
    const env = async (role: string, extra: Record<string, string> = {}) =>
      serviceEnv(
        { databaseUrl: db.url, exchange: 'nova', host: HOST },
        {
          TRANSPORT_URL: urlOf(role),
          BM_RPC_CHECK_SENDER: 'true',
          BM_RPC_HOST_USER_PREFIX: `${prefix}compute-`,
          ...extra,
        },
      );
    scheduler = startService('scheduler', await env('scheduler'));
    power = startService(
      'power',
      await env('power', { BM_RPC_ADMIN_SENDERS: `^${prefix}(compute-.+|bmctl)$`, BM_POWER_SYNC_INTERVAL: '0' }),
    );
    await scheduler.waitFor('rpc=');
    await power.waitFor('rpc=');
    compute = startService('compute', await env('compute'));
    await compute.waitFor('rpc=');
  }, 90_000);

  afterAll(async () => {
    for (const c of conns) await c.close();
    await compute?.stop();
    await scheduler?.stop();
    await power?.stop();
    await db?.drop();
    const names = users.map((u) => `<<"${u.name}">>`).join(',');
    await rabbitmqctl(['eval', `[rabbit_auth_backend_internal:delete_user(U, <<"test">>) || U <- [${names}]].`]);
    await rabbitmqctl(['delete_vhost', vhost]);
  }, 60_000);

  it("takes compute's own reports: its node is scheduled", async () => {
    // Both nodes reported before the first is taken.
    await eventually(
      async () => {
        const rows: unknown[] = await db.ds.query('SELECT 1 FROM compute_nodes WHERE host = $1', [HOST]);
        expect(rows).toHaveLength(2);
      },
      20_000,
      300,
    );
    await eventually(async () => expect(uuids.map((u) => `${HOST}/${u}`)).toContain((await select())[0]), 20_000, 300);
    expect(scheduler.output()).not.toMatch(/refused/);
  });

  it('refuses a forged report emptying the real host, or adding a fake one', async () => {
    // Another service's login cannot write to the scheduler's fanout exchange at all.
    const raw = await amqp.connect(urlOf('power').replace(/^rabbit:/, 'amqp:'));
    try {
      const ch = await raw.createConfirmChannel();
      const closed = new Promise<string>((r) => ch.on('error', (e: Error) => r(e.message)));
      ch.publish('scheduler_fanout', '', Buffer.from('{}'), publishProperties());
      expect(await Promise.race([closed, ch.waitForConfirms().then(() => 'ok')])).toMatch(/ACCESS_REFUSED/);
      // Straight into the scheduler's queue through the default exchange: the broker takes it,
      // the scheduler refuses it (the user_id is power's).
      const ch2 = await raw.createConfirmChannel();
      const empty = buildCast({
        method: SCHEDULER.methods.updateServiceCapabilities,
        args: { service_name: 'compute', host: HOST, capabilities: [] },
        version: SCHEDULER.version,
      });
      ch2.publish('', SCHEDULER.topic, encodeEnvelope(empty), { ...publishProperties(), userId: userOf('power') });
      await ch2.waitForConfirms();
    } finally {
      await raw.close();
    }
    // The compute host's own login, speaking for another host.
    const fake: ResourceDict = {
      vcpus: 1,
      memory_mb: 1024,
      local_gb: 10,
      vcpus_used: 0,
      memory_mb_used: 0,
      local_gb_used: 0,
      hypervisor_type: 'baremetal',
      hypervisor_version: 1,
      hypervisor_hostname: 'fake-node',
      cpu_info: 'baremetal cpu',
      supported_instances: '[]',
      stats: { cpu_arch: 'x86_64' },
    };
    await new SchedulerClient(await rpcAs('compute')).updateServiceCapabilities('fake-host', [fake]);
    await scheduler.waitFor(`for host ${HOST} refused: broker user ${userOf('power')} does not speak for host ${HOST}`);
    await scheduler.waitFor(
      `for host fake-host refused: broker user ${userOf('compute')} does not speak for host fake-host`,
    );
    // The real host keeps its other node; no fake host is offered.
    expect(uuids.map((u) => `${HOST}/${u}`)).toContain((await select())[0]);
  });

  it("refuses a power_off put into power's queue by a service that may only reply", async () => {
    const raw = await amqp.connect(urlOf('netboot').replace(/^rabbit:/, 'amqp:'));
    try {
      const ch = await raw.createChannel();
      const replyQ = `reply_${'e'.repeat(32)}`;
      await ch.assertQueue(replyQ, { exclusive: true });
      const replies: Record<string, unknown>[] = [];
      await ch.consume(replyQ, (m) => m && replies.push(decodeEnvelope(m.content) as Record<string, unknown>), {
        noAck: true,
      });
      const msg = buildCall(
        {
          method: POWER.methods.powerOff,
          args: { node: uuids[0] },
          version: POWER.version,
          context: { roles: ['admin'] },
        },
        replyQ,
      );
      ch.sendToQueue(`${POWER.topic}.${HOST}`, encodeEnvelope(msg), publishProperties());
      await eventually(() => expect(replies).toHaveLength(1), 10_000);
      expect(JSON.parse(String(replies[0].failure))).toMatchObject({ class: 'PolicyNotAuthorized' });
    } finally {
      await raw.close();
    }
  });
});
