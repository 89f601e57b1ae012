import 'reflect-metadata';
// Every RPC surface of the system, one file per service: topic, version, method names,
// argument DTOs (class-validator, used by the callee's @OsloController) and result types, and a
// typed client over RpcClient for callers. No topic, method or version string is written
// anywhere else (contracts.spec.ts checks).
export * from './surface';
export * from './nova-build-args';
export * from './compute';
export * from './compute-nova';
export * from './scheduler';
export * from './scheduler-request';
export * from './nova-objects';
export * from './power';
export * from './netboot';
export * from './deploy-helper';
export * from './deploy-callback';
export * from './catalog';
export * from './conductor';
export * from './broker-topics';
