export * from './message';
export * from './crypto';
export * from './packet';
export * from './rakp';
export * from './commands';
export * from './errors';
export * from './client';
