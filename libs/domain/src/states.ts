/**
 * `bm_nodes.task_state` values, spelled exactly as nova/virt/baremetal/baremetal_states.py
 * (Icehouse). A free node is one whose instance_uuid is NULL, never judged by task_state.
 */
export const BmState = {
  NULL: null,
  ACTIVE: 'active',
  BUILDING: 'building',
  PREPARED: 'prepared',
  DEPLOYING: 'deploying',
  DEPLOYFAIL: 'deploy failed',
  DEPLOYDONE: 'deploy complete',
  DELETED: 'deleted',
  ERROR: 'error',
} as const;

export type BmTaskState = (typeof BmState)[keyof typeof BmState];

/** Every task_state value, NULL first: for tables and exhaustive tests. */
export const BM_TASK_STATES: readonly BmTaskState[] = Object.values(BmState);
