export * from './errors';
export * from './mac';
export * from './bmc-address';
export * from './states';
export * from './validate';
export * from './node-args';
