import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { INestApplication } from '@nestjs/common';
import * as amqp from 'amqplib';
import { CommandRunner } from '@bm/exec';
import { TEST_AMQP_URL, uniqueName } from '../../../test/support/amqp';
import { BROKER_TOPICS as TOPICS } from '@bm/contracts';
import {
  ADMIN_ONLY,
  AmqpConnection,
  type BrokerUser,
  OsloContext,
  OsloController,
  OsloTransport,
  type RemoteError,
  RpcClient,
  brokerUsers,
  buildCast,
  encodeEnvelope,
  importBrokerUsers,
  newBrokerPassword,
  parseTransportUrl,
  publishProperties,
} from '.';

// rabbitmqctl starts an Erlang VM per command (~2 s): the users are made once, in one import.
jest.setTimeout(60_000);

const runner = new CommandRunner();
async function rabbitmqctl(args: readonly string[], input?: string): Promise<void> {
  const r = await runner.run('rabbitmqctl', args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`rabbitmqctl ${args[0]}: ${r.stderr || r.stdout}`);
}

const broker = parseTransportUrl(TEST_AMQP_URL).hosts[0];
const vhost = uniqueName('bm_users');
const o = {
  vhost,
  exchange: 'nova',
  computeHosts: ['h1'],
  prefix: `${uniqueName('t')}-`,
  topics: TOPICS,
  jobQueue: 'jobs',
};
const users = brokerUsers(o);
const passwords = Object.fromEntries(users.map((u) => [u.name, newBrokerPassword()]));
const userOf = (role: BrokerUser['role']) => users.find((u) => u.role === role)!.name;
const urlOf = (name: string) => `amqp://${name}:${passwords[name]}@${broker.host}:${broker.port}/${vhost}`;

/** Publishes once as `user` on a confirm channel: 'ok', or the broker's refusal. */
async function publishAs(
  user: string,
  exchange: string,
  key: string,
  props: amqp.Options.Publish = {},
): Promise<string> {
  const conn = await amqp.connect(urlOf(user));
  try {
    const ch = await conn.createConfirmChannel();
    const closed = new Promise<string>((r) => ch.on('error', (e: Error) => r(e.message)));
    const body = encodeEnvelope(
      buildCast({ method: 'power_off', args: { node: 'n1' }, context: { roles: ['admin'] } }),
    );
    ch.publish(exchange, key, body, { ...publishProperties(), ...props });
    return await Promise.race([closed, ch.waitForConfirms().then(() => 'ok')]);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

@OsloController()
class PowerLike {
  readonly done: string[] = [];
  @MessagePattern('power_off', ADMIN_ONLY)
  powerOff(@Payload() a: { node: string }, @Ctx() ctx: OsloContext) {
    this.done.push(`${a.node} by ${ctx.getSender()}`);
    return 'off';
  }
  @MessagePattern('get_power_state')
  state() {
    return 'on';
  }
}
@Module({ controllers: [PowerLike] })
class PowerLikeModule {}

describe('one broker user per service (real RabbitMQ, a vhost of its own)', () => {
  let app: INestApplication;
  const done = () => app.get(PowerLike).done;
  const conns: AmqpConnection[] = [];
  /** An RpcClient logged in as `user`: its publishes carry user_id = user. */
  const clientAs = async (user: string) => {
    const conn = await AmqpConnection.open({ url: urlOf(user) });
    conns.push(conn);
    return new RpcClient(conn, { exchange: 'nova', timeout: 5 });
  };
  const powerOff = async (user: string, node: string, context: Record<string, unknown> = { roles: ['admin'] }) =>
    (await clientAs(user))
      .call({ topic: 'baremetal-power', server: 'h1' }, 'power_off', { node }, { context })
      .catch((e: RemoteError) => `${e.name}: ${e.message}`);

  beforeAll(async () => {
    await importBrokerUsers(rabbitmqctl, o, users, passwords);
    // A power service logged in as the power user, as the lab runs it: ADMIN_ONLY methods need
    // the admin role and a compute host or the operator as sender.
    app = await NestFactory.create(PowerLikeModule, { logger: false });
    app.connectMicroservice({
      strategy: new OsloTransport({
        url: urlOf(userOf('power')),
        exchange: 'nova',
        topic: 'baremetal-power',
        server: 'h1',
        endpoints: [{ version: '1.0' }],
        adminRole: 'admin',
        adminSenders: new RegExp(`^${o.prefix}(compute-.+|bmctl)$`),
      }),
    });
    await app.startAllMicroservices();
    await app.init();
  });
  afterAll(async () => {
    for (const c of conns) await c.close();
    await app?.close();
    const names = users.map((u) => `<<"${u.name}">>`).join(',');
    // One Erlang call instead of a rabbitmqctl (2 s) per user.
    await rabbitmqctl(['eval', `[rabbit_auth_backend_internal:delete_user(U, <<"test">>) || U <- [${names}]].`]);
    await rabbitmqctl(['delete_vhost', vhost]);
  });

  it.each(['scheduler', 'netboot', 'deploy-helper', 'images', 'power'] as const)(
    '%s cannot publish a power_off to the power topic',
    async (role) => {
      for (const key of ['baremetal-power', 'baremetal-power.h1'])
        expect(await publishAs(userOf(role), 'nova', key)).toMatch(
          /ACCESS_REFUSED - access to topic '.*' in exchange 'nova'/,
        );
    },
  );

  it('compute and the operator can, with the admin role; the service knows who sent it', async () => {
    expect(await powerOff(userOf('compute'), 'n1')).toBe('off');
    expect(await powerOff(userOf('operator'), 'n2')).toBe('off');
    expect(await powerOff(userOf('compute'), 'n3', { roles: ['member'], is_admin: true })).toBe(
      "PolicyNotAuthorized: Policy doesn't allow power_off to be performed.",
    );
    expect(done()).toEqual([`n1 by ${userOf('compute')}`, `n2 by ${userOf('operator')}`]);
  });

  it('a user_id naming another user is refused by the broker', async () => {
    expect(await publishAs(userOf('netboot'), 'nova', 'notifications.info', { userId: userOf('compute') })).toMatch(
      /PRECONDITION_FAILED - user_id property set to '.*compute-h1' but authenticated user was '.*netboot'/,
    );
  });

  it('a request put straight into the queue (default exchange) is refused unless its sender may send it', async () => {
    // Topic permissions do not cover the default exchange, which every RPC server needs for its
    // replies: the broker takes these. The sender check refuses them.
    expect(await publishAs(userOf('netboot'), '', 'baremetal-power')).toBe('ok');
    expect(await publishAs(userOf('netboot'), '', 'baremetal-power.h1', { userId: userOf('netboot') })).toBe('ok');
    expect(await powerOff(userOf('compute'), 'n4')).toBe('off'); // queued behind them
    expect(done()).toEqual([`n1 by ${userOf('compute')}`, `n2 by ${userOf('operator')}`, `n4 by ${userOf('compute')}`]);
  });

  it("only compute hosts write to the scheduler's fanout exchange", async () => {
    // The scheduler declares it (as its RPC server does).
    const s = await amqp.connect(urlOf(userOf('scheduler')));
    const ch = await s.createChannel();
    await ch.assertExchange('scheduler_fanout', 'fanout', { durable: false, autoDelete: false });
    try {
      for (const role of ['power', 'netboot', 'deploy-helper', 'images', 'scheduler'] as const)
        expect(await publishAs(userOf(role), 'scheduler_fanout', '')).toMatch(
          /ACCESS_REFUSED - access to exchange 'scheduler_fanout'/,
        );
      expect(await publishAs(userOf('compute'), 'scheduler_fanout', '')).toBe('ok');
    } finally {
      await ch.deleteExchange('scheduler_fanout').catch(() => undefined);
      await s.close();
    }
  });
});
