import { JOBS_EXCHANGE } from '@bm/messaging';

/**
 * The deploy helper (apps/deploy-helper) serves no RPC of its own yet: the deploy ramdisk calls it
 * over HTTP on port 10000, and it tells compute of each deploy state through
 * `ComputeClient.deployStateChanged` (COMPUTE_BAREMETAL) after writing the row. Its durable job
 * queue is named here so that producers, the worker and `bmctl queues` agree.
 */
export const DEPLOY_JOBS = {
  /** Direct, durable exchange of durable work. */
  exchange: JOBS_EXCHANGE,
  /** Deploy jobs; dead letters go to `<queue>.dead`. */
  queue: 'baremetal.deploy',
} as const;

/** The port the deploy ramdisk posts its `i,k,a,n[,p,l,e]` request to (Nova's deploy helper). */
export const DEPLOY_CALLBACK_PORT = 10000;
