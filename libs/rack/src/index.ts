export * from './node-progress';
export * from './node-history';
export * from './tile';
export * from './rack-feed';
export * from './sse';
export * from './event-stream';
export * from './page-policy';
