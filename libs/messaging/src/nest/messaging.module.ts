import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AmqpConnection, type Logger } from '../connection';
import { type NotificationDriver, Notifier } from '../notifications';
import type { RpcObserver } from '../observer';
import { RpcClient } from '../rpc-client';
import type { RabbitSslOptions } from '../transport-url';

export interface MessagingModuleOptions {
  url: string;
  /** oslo's `[oslo_messaging_rabbit]` TLS options. */
  ssl?: RabbitSslOptions;
  exchange: string;
  /** Notifications' publisher_id, e.g. `compute.<host>`. */
  publisherId: string;
  /** oslo's `[oslo_messaging_notifications] driver` (default messagingv2) and `topics`. */
  notificationDrivers?: readonly NotificationDriver[];
  notificationTopics?: readonly string[];
  /** Default call timeout in seconds (oslo rpc_response_timeout). */
  timeout?: number;
  logger?: Logger;
  /** Told of every call the RpcClient makes (method, outcome, seconds): the service's metrics. */
  observer?: RpcObserver;
}

/** The module's AMQP connection (injectable, e.g. for health checks). */
export const AMQP_CONNECTION = Symbol('AMQP_CONNECTION');
const CONNECTION = AMQP_CONNECTION;

/**
 * The calling side for Nest apps: injectable `RpcClient` (call, cast, fanout cast) and
 * `Notifier`, on one AMQP connection of their own, closed at shutdown.
 */
@Global()
@Module({})
export class MessagingModule implements OnApplicationShutdown {
  constructor(@Inject(CONNECTION) private readonly conn: AmqpConnection) {}

  static forRoot(o: MessagingModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      providers: [
        { provide: CONNECTION, useFactory: () => AmqpConnection.open({ url: o.url, ssl: o.ssl, logger: o.logger }) },
        {
          provide: RpcClient,
          inject: [CONNECTION],
          useFactory: (c: AmqpConnection) =>
            new RpcClient(c, { exchange: o.exchange, timeout: o.timeout, observer: o.observer }),
        },
        {
          provide: Notifier,
          inject: [CONNECTION],
          useFactory: (c: AmqpConnection) =>
            new Notifier(c, {
              exchange: o.exchange,
              publisherId: o.publisherId,
              drivers: o.notificationDrivers,
              topics: o.notificationTopics,
            }),
        },
      ],
      exports: [RpcClient, Notifier, CONNECTION],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.conn.close();
  }
}
