/** Injection token of the one validated BmConfig, read once in main. */
export const BM_CONFIG = Symbol('BM_CONFIG');
/** Injection token of the running service's name (`compute`, `power`, …). */
export const SERVICE_NAME = Symbol('SERVICE_NAME');
/** Injection token of the Clock (libs/core): the system clock in services, a ManualClock in tests. */
export const CLOCK = Symbol('CLOCK');
/** Injection token of the process's Lifecycle (starting, running, stopping), for /healthz. */
export const LIFECYCLE = Symbol('LIFECYCLE');
