import { Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { INestApplication } from '@nestjs/common';
import { IsString, Length } from 'class-validator';
import { NodeNotFound, describeFailure } from '../../../../test/support/errors';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../../test/support/amqp';
import { AmqpConnection, Notifier, NotificationListener, type ReceivedNotification, RemoteError, RpcClient } from '..';
import { MessagingModule, OsloContext, OsloController, OsloTransport } from '.';

const exchange = uniqueName('nest');
const topic = uniqueName('example');

class EchoArgs {
  @IsString() @Length(1, 10) text: string;
}

/** An example controller: serves oslo RPC and itself calls and notifies through the injected client. */
@OsloController()
class ExampleController {
  constructor(
    @Inject(RpcClient) private readonly client: RpcClient,
    @Inject(Notifier) private readonly notifier: Notifier,
  ) {}

  @MessagePattern('echo')
  echo(@Payload() args: EchoArgs, @Ctx() ctx: OsloContext) {
    return { text: args.text, user: ctx.getContext().user_id, version: ctx.getVersion() };
  }

  @MessagePattern('missing')
  missing(): never {
    throw new NodeNotFound('n-1');
  }

  @MessagePattern({ method: 'echo', namespace: 'baremetal' })
  echoNs(@Payload() args: { text: string }) {
    return `ns:${args.text}`;
  }

  /** Calls `echo` on this same topic through the client, then notifies. */
  @MessagePattern('relay')
  async relay(@Payload() args: { text: string }) {
    const r = await this.client.call<{ text: string }>({ topic }, 'echo', { text: args.text }, { version: '1.0' });
    await this.notifier.info('example.relayed', { text: r.text });
    return `relayed ${r.text}`;
  }
}

@Module({
  imports: [MessagingModule.forRoot({ url: TEST_AMQP_URL, exchange, publisherId: 'example.h1', timeout: 5 })],
  controllers: [ExampleController],
})
class ExampleModule {}

describe('Nest: OsloTransport + MessagingModule', () => {
  let app: INestApplication;
  let conn: AmqpConnection;
  let client: RpcClient;
  const notes: ReceivedNotification[] = [];
  let listener: NotificationListener;

  beforeAll(async () => {
    app = await NestFactory.create(ExampleModule, { logger: false });
    app.connectMicroservice({
      strategy: new OsloTransport({
        url: TEST_AMQP_URL,
        exchange,
        topic,
        server: 'h1',
        endpoints: [{ version: '1.2' }, { version: '1.0', namespace: 'baremetal' }],
        describeFailure,
      }),
    });
    await app.startAllMicroservices();
    await app.init();
    conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    client = new RpcClient(conn, { exchange, timeout: 5 });
    listener = new NotificationListener(conn, {
      exchange,
      pool: uniqueName('pool'),
      handler: (n) => void notes.push(n),
    });
    await listener.start();
  });
  afterAll(async () => {
    await listener?.stop();
    await conn?.close();
    await app?.close();
  });

  it('serves @MessagePattern methods with kwargs and the oslo context', async () => {
    expect(
      await client.call(
        { topic, server: 'h1' },
        'echo',
        { text: 'hi' },
        { version: '1.1', context: { user_id: 'u7' } },
      ),
    ).toEqual({ text: 'hi', user: 'u7', version: '1.1' });
    expect(await client.call({ topic }, 'echo', { text: 'x' }, { version: '1.0', namespace: 'baremetal' })).toBe(
      'ns:x',
    );
  });

  it('keeps error names on the wire, and validates payload DTOs', async () => {
    const e = (await client.call({ topic }, 'missing', {}, { version: '1.0' }).catch((x) => x)) as RemoteError;
    expect([e.name, e.message, e.remote.module]).toEqual([
      'NodeNotFound',
      'Node n-1 could not be found.',
      'nova.exception',
    ]);
    const v = (await client
      .call({ topic }, 'echo', { text: '', extra: 1 }, { version: '1.0' })
      .catch((x) => x)) as RemoteError;
    expect(v.name).toBe('InvalidRpcArguments');
    expect(v.message).toMatch(/^Invalid arguments for echo: /);
    expect(v.message).toContain('extra: is not a known field');
    expect(v.message).toContain('text: must be longer than or equal to 1 characters');
    const n = (await client.call({ topic }, 'nosuch', {}, { version: '1.0' }).catch((x) => x)) as RemoteError;
    expect(n.name).toBe('NoSuchMethod');
  });

  it('a controller calls and notifies through the injected client', async () => {
    expect(await client.call({ topic }, 'relay', { text: 'r' }, { version: '1.0' })).toBe('relayed r');
    await eventually(() =>
      expect(notes.map((x) => [x.eventType, x.publisherId, x.payload])).toEqual([
        ['example.relayed', 'example.h1', { text: 'r' }],
      ]),
    );
  });
});
