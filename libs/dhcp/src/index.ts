export * from './ip';
export * from './codec';
export * from './leases';
export * from './responder';
export * from './server';
export * from './unenrolled-log';
