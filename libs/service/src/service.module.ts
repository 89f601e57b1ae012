import { type DynamicModule, Global, Module, type ModuleMetadata } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ComputeClient, NetbootClient, PowerClient, SchedulerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { systemClock } from '@bm/core';
import { REPOSITORIES, dataSourceOptions } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { GlanceClient } from '@bm/images';
import { MessagingModule, RpcClient } from '@bm/messaging';
import { HealthController } from './health.controller';
import { BM_CONFIG, CLOCK, SERVICE_NAME } from './tokens';

/**
 * What every service process shares: the config object (read once in main), the clock, the
 * nova_bm database and its repositories (migrations are run by `bmctl db sync`, never at start),
 * the message bus (an injectable RpcClient and Notifier, and the typed clients of the other
 * services: power and netboot of this host, compute, scheduler), the image service's client
 * (`[glance] api_servers`), the enrollment service, and /healthz.
 */
@Global()
@Module({})
export class ServiceModule {
  static forRoot(name: string, config: BmConfig, imports: ModuleMetadata['imports'] = []): DynamicModule {
    const host = config.default.host;
    return {
      module: ServiceModule,
      imports: [
        TypeOrmModule.forRoot({
          ...dataSourceOptions(config.baremetal.sql_connection),
          // Keep starting while PostgreSQL is away; /healthz reports it meanwhile.
          retryAttempts: Number.MAX_SAFE_INTEGER,
          retryDelay: 3000,
        }),
        MessagingModule.forRoot({
          url: config.default.transport_url,
          exchange: config.default.control_exchange,
          publisherId: `${name}.${config.default.host}`,
          timeout: config.default.rpc_response_timeout,
        }),
        ...imports,
      ],
      controllers: [HealthController],
      providers: [
        { provide: BM_CONFIG, useValue: config },
        { provide: SERVICE_NAME, useValue: name },
        { provide: CLOCK, useValue: systemClock },
        {
          provide: EnrollmentService,
          inject: [getDataSourceToken()],
          useFactory: (ds: DataSource) => new EnrollmentService(ds, config.default.host),
        },
        ...REPOSITORIES.map((repo) => ({
          provide: repo,
          inject: [getDataSourceToken()],
          useFactory: (ds: DataSource) => new repo(ds),
        })),
        { provide: PowerClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new PowerClient(rpc, host) },
        { provide: NetbootClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new NetbootClient(rpc, host) },
        { provide: ComputeClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new ComputeClient(rpc) },
        { provide: SchedulerClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new SchedulerClient(rpc) },
        { provide: GlanceClient, useFactory: () => new GlanceClient(config.glance.api_servers[0]) },
      ],
      exports: [
        BM_CONFIG,
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
