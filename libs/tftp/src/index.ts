export * from './errors';
export * from './packet';
export * from './options';
export * from './paths';
export * from './netascii';
export * from './provider';
export * from './fs-provider';
export * from './server';
