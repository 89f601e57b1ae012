// The partition layout of a bare-metal deploy and its application with sfdisk. Plain TypeScript;
// no Nest. Runs programs only through @bm/exec's CommandRunner.
export * from './errors';
export * from './layout';
export * from './partitioner';
export * from './image-writer';
export * from './partition-tools';
