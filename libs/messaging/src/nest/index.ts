export * from './oslo.context';
export * from './oslo.transport';
export * from './oslo.controller';
export * from './messaging.module';
