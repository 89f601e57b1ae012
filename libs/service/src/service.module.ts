import { type DynamicModule, Global, Module, type ModuleMetadata } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { BmConfig } from '@bm/config';
import { dataSourceOptions } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { MessagingModule } from '@bm/messaging';
import { HealthController } from './health.controller';
import { BM_CONFIG, SERVICE_NAME } from './tokens';

/**
 * What every service process shares: the config object (read once in main), the nova_bm
 * database (migrations are run by `bmctl db sync`, never at start), the message bus (an
 * injectable RpcClient and Notifier), the enrollment service, and /healthz.
 */
@Global()
@Module({})
export class ServiceModule {
  static forRoot(name: string, config: BmConfig, imports: ModuleMetadata['imports'] = []): DynamicModule {
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
        {
          provide: EnrollmentService,
          inject: [getDataSourceToken()],
          useFactory: (ds: DataSource) => new EnrollmentService(ds, config.default.host),
        },
      ],
      exports: [BM_CONFIG, SERVICE_NAME, EnrollmentService],
    };
  }
}
