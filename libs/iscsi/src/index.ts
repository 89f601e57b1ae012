// Attaching a deploy target (the ramdisk's iSCSI LUN) on the deploy host: the kernel initiator
// (iscsiadm, as the seed) or a userspace one (qemu-storage-daemon + FUSE), behind one interface;
// and the other side, a tgtd of our own exporting files (the lab's simulated nodes, the tests).
// Plain TypeScript; no Nest. Runs programs only through @bm/exec's CommandRunner.
export * from './errors';
export * from './target';
export * from './userspace';
export * from './orphans';
export * from './kernel';
export * from './choose';
export * from './tgtd';
