import { IsIn, IsInt, IsUUID, Min } from 'class-validator';
import { BmState, type BmTaskState } from './states';

/**
 * How the deploy helper tells compute that a node's deploy moved on (deploying, deploy complete,
 * deploy failed): a cast to `compute.<service_host>` in our own `baremetal` namespace, so that
 * Nova's compute API (endpoints 6.x and 2.x, no namespace) stays exactly Nova's. The row in
 * bm_nodes stays the truth: the helper writes task_state first, then casts; compute re-reads the
 * row when woken and still polls, so a lost cast costs one poll interval, never a deploy.
 */
export const DEPLOY_EVENT = {
  topic: 'compute',
  namespace: 'baremetal',
  version: '1.0',
  method: 'deploy_state_changed',
} as const;

/** The states a deploy helper reports. */
export const DEPLOY_EVENT_STATES: readonly BmTaskState[] = [BmState.DEPLOYING, BmState.DEPLOYDONE, BmState.DEPLOYFAIL];

export class DeployStateChangedArgs {
  @IsInt()
  @Min(1)
  node_id!: number;

  @IsUUID()
  instance_uuid!: string;

  @IsIn(DEPLOY_EVENT_STATES as BmTaskState[])
  task_state!: BmTaskState;
}
