export * from './tokens';
export * from './service.module';
export * from './health.controller';
export * from './run-service';
export * from './lifecycle';
export * from './metrics';
