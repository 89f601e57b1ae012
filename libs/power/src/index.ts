export * from './driver';
export * from './native.driver';
export * from './ipmitool.driver';
export * from './fake.driver';
export * from './power-manager';
export * from './power-sync';
export * from './node-lanes';
