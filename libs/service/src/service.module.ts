import { type DynamicModule, Global, Logger, Module, type ModuleMetadata } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ComputeClient, NetbootClient, PowerClient, SchedulerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { systemClock } from '@bm/core';
import { PasswordVault, REPOSITORIES, dataSourceOptions, databaseLimits } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { GlanceClient } from '@bm/images';
import {
  AMQP_CONNECTION,
  type AmqpConnection,
  type Logger as BusLogger,
  MessagingModule,
  RpcClient,
  queueDepths,
} from '@bm/messaging';
import { HealthController } from './health.controller';
import { Lifecycle } from './lifecycle';
import { Metrics, MetricsController } from './metrics';
import { BM_CONFIG, CLOCK, LIFECYCLE, SERVICE_NAME } from './tokens';

const BROKER_READY = Symbol('BROKER_READY');
const DATABASE_READY = Symbol('DATABASE_READY');
const QUEUE_DEPTHS = Symbol('QUEUE_DEPTHS');

/** The bus's log lines (reconnect attempts, losses) in the service's log. */
function nestLogger(context: string): BusLogger {
  const l = new Logger(context);
  return { log: (m) => l.log(m), warn: (m) => l.warn(m), error: (m) => l.error(m) };
}

/**
 * What every service process shares: the config object (read once in main), the clock, the
 * nova_bm database and its repositories (migrations are run by `bmctl db sync`, never at start),
 * the message bus (an injectable RpcClient and Notifier, and the typed clients of the other
 * services: power and netboot of this host, compute, scheduler), the image service's client
 * (`[glance] api_servers`), the enrollment service, /healthz (live, ready) and /metrics
 * (`Metrics`, injectable: the apps count their own work on it).
 */
@Global()
@Module({})
export class ServiceModule {
  static forRoot(
    name: string,
    config: BmConfig,
    imports: ModuleMetadata['imports'] = [],
    lifecycle = new Lifecycle(),
    metrics = new Metrics(),
  ): DynamicModule {
    const host = config.default.host;
    // Read at start: a missing or malformed key file stops the service with the option named.
    const passwords = PasswordVault.fromKeyFile(config.baremetal.pm_password_key_file);
    return {
      module: ServiceModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...dataSourceOptions(config.baremetal.sql_connection, {
              ...databaseLimits(config.baremetal),
              onConnectionError: (e) => new Logger(name).warn(`database connection lost: ${e.message}`),
            }),
            // Keep starting while PostgreSQL is away; /healthz reports it meanwhile.
            retryAttempts: Number.MAX_SAFE_INTEGER,
            retryDelay: 3000,
          }),
          // Each attempt: what failed is what /healthz shows while starting.
          dataSourceFactory: async (options) =>
            new DataSource(options!).initialize().catch((e: Error) => {
              lifecycle.databaseError = e.message;
              throw e;
            }),
        }),
        MessagingModule.forRoot({
          url: config.default.transport_url,
          ssl: config.oslo_messaging_rabbit,
          exchange: config.default.control_exchange,
          publisherId: `${name}.${config.default.host}`,
          timeout: config.default.rpc_response_timeout,
          notificationDrivers: config.oslo_messaging_notifications.driver,
          notificationTopics: config.oslo_messaging_notifications.topics,
          logger: nestLogger(name),
          observer: metrics.rpc,
        }),
        ...imports,
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: BM_CONFIG, useValue: config },
        { provide: LIFECYCLE, useValue: lifecycle },
        { provide: Metrics, useValue: metrics },
        // bm_queue_messages reads the depths on the bus connection, at scrape time.
        {
          provide: QUEUE_DEPTHS,
          inject: [AMQP_CONNECTION],
          useFactory: (c: AmqpConnection) => metrics.readQueuesWith((queues) => queueDepths(c, queues)),
        },
        // Built as soon as the connection (the data source) is up: marks it for /healthz.
        {
          provide: BROKER_READY,
          inject: [AMQP_CONNECTION],
          useFactory: () => void (lifecycle.brokerConnected = true),
        },
        {
          provide: DATABASE_READY,
          inject: [getDataSourceToken()],
          useFactory: () => {
            lifecycle.databaseReachable = true;
            lifecycle.databaseError = undefined;
          },
        },
        { provide: SERVICE_NAME, useValue: name },
        { provide: CLOCK, useValue: systemClock },
        {
          provide: EnrollmentService,
          inject: [getDataSourceToken()],
          useFactory: (ds: DataSource) => new EnrollmentService(ds, config.default.host, passwords),
        },
        ...REPOSITORIES.map((repo) => ({
          provide: repo,
          inject: [getDataSourceToken()],
          useFactory: (ds: DataSource) => new repo(ds, passwords),
        })),
        {
          provide: PowerClient,
          inject: [RpcClient],
          // The timeout goes with each call: the power service abandons work nobody waits for.
          useFactory: (rpc: RpcClient) => new PowerClient(rpc, host, config.default.rpc_response_timeout),
        },
        { provide: NetbootClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new NetbootClient(rpc, host) },
        { provide: ComputeClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new ComputeClient(rpc) },
        { provide: SchedulerClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new SchedulerClient(rpc) },
        { provide: GlanceClient, useFactory: () => new GlanceClient(config.glance.api_servers[0]) },
      ],
      exports: [
        BM_CONFIG,
        LIFECYCLE,
        Metrics,
        SERVICE_NAME,
        CLOCK,
        EnrollmentService,
        ...REPOSITORIES,
        PowerClient,
        NetbootClient,
        ComputeClient,
        SchedulerClient,
        GlanceClient,
      ],
    };
  }
}
