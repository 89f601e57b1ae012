/**
 * The baremetal node state machine over `bm_nodes.task_state`, following the Icehouse driver
 * (nova/virt/baremetal/driver.py, pxe.py, cmd/baremetal_deploy_helper.py). Pure: no I/O, no clock.
 *
 *   spawn    NULL|deleted -associate-> building -prepared-> prepared -deploy_started-> deploying
 *            deploying -deploy_done-> deploy complete -activated-> active
 *            deploying -deploy_failed-> deploy failed
 *            any step failing: -failed-> error -cleaned-> deleted (association cleared)
 *   destroy  any associated state -destroyed-> deleted; on failure -failed-> error (stays associated)
 *   reboot   active -> active          rebuild  active -> building (same node)
 *   power on/off never change task_state, so they are not events here.
 *
 * Whether a node is free is decided by `instance_uuid IS NULL` (atomically, in the DB), never by
 * task_state; `associate` only checks that the previous owner's lifecycle has ended.
 */
import { InvalidNodeStateTransition } from './errors';
import { BM_TASK_STATES, BmState, type BmTaskState } from './states';

const { NULL, ACTIVE, BUILDING, PREPARED, DEPLOYING, DEPLOYFAIL, DEPLOYDONE, DELETED, ERROR } = BmState;

/** States in which the node carries an instance (a spawn, a deploy or an instance in service). */
const ASSOCIATED: readonly BmTaskState[] = [BUILDING, PREPARED, DEPLOYING, DEPLOYFAIL, DEPLOYDONE, ACTIVE, ERROR];

/** Each event with the states it may start from and the state it leads to. */
export const ALLOWED = {
  /** spawn: the node is claimed for an instance. */
  associate: { from: [NULL, DELETED], to: BUILDING },
  /** spawn: PXE config written, node power-cycled into the deploy ramdisk. */
  prepared: { from: [BUILDING], to: PREPARED },
  /** deploy helper: its worker took the ramdisk's request. */
  deploy_started: { from: [PREPARED], to: DEPLOYING },
  /** deploy helper: image written, PXE config switched to the instance; the deploy key is spent. */
  deploy_done: { from: [DEPLOYING], to: DEPLOYDONE, endsDeploy: true },
  /** deploy helper: the deploy raised; the deploy key is spent. */
  deploy_failed: { from: [DEPLOYING], to: DEPLOYFAIL, endsDeploy: true },
  /** spawn: compute saw the deploy finish. */
  activated: { from: [DEPLOYDONE, ACTIVE], to: ACTIVE },
  /** reboot (soft and hard alike) succeeded. */
  reboot: { from: [ACTIVE], to: ACTIVE },
  /** rebuild: the same node is deployed again. */
  rebuild: { from: [ACTIVE], to: BUILDING },
  /** spawn/rebuild or destroy failed: the instance stays associated until cleaned up. */
  failed: { from: ASSOCIATED, to: ERROR },
  /** spawn failure cleanup finished: the association is cleared. */
  cleaned: { from: [ERROR], to: DELETED, releases: true },
  /** destroy finished: the association is cleared. */
  destroyed: { from: ASSOCIATED, to: DELETED, releases: true },
} as const satisfies Record<
  string,
  { from: readonly BmTaskState[]; to: BmTaskState; releases?: true; endsDeploy?: true }
>;

export type NodeEvent = keyof typeof ALLOWED;

/** The states `event` may start from. */
export function allowedFrom(event: NodeEvent): readonly BmTaskState[] {
  return ALLOWED[event].from;
}

/**
 * Whether `event` ends the node's association with its instance: the writer then clears
 * instance_uuid, instance_name and the deploy fields along with task_state.
 */
export function releasesNode(event: NodeEvent): boolean {
  return 'releases' in ALLOWED[event];
}

/** The service that applies `event`: the deploy helper's three deploy events, compute every other. */
export function eventActor(event: NodeEvent): 'compute' | 'deploy-helper' {
  return event.startsWith('deploy_') ? 'deploy-helper' : 'compute';
}

/** The events that end a deploy: its key, used once, is cleared with them (a release clears it too). */
export function endsDeploy(event: NodeEvent): boolean {
  return 'endsDeploy' in ALLOWED[event];
}

export const NODE_EVENTS = Object.keys(ALLOWED) as NodeEvent[];

export function canTransition(from: BmTaskState, event: NodeEvent): boolean {
  return (ALLOWED[event].from as readonly BmTaskState[]).includes(from);
}

/** The state `event` leads to from `from`; throws InvalidNodeStateTransition if not allowed. */
export function transition(from: BmTaskState, event: NodeEvent): BmTaskState {
  if (!canTransition(from, event)) throw new InvalidNodeStateTransition(from, event, ALLOWED[event].from);
  return ALLOWED[event].to;
}

// ---------------------------------------------------------------------------------------------
// Deadlines

/**
 * States in which compute waits for someone else: the deploy ramdisk to boot and call the helper
 * (`prepared`), the helper to finish (`deploying`). `building` is compute's own work, bounded by
 * its own calls' timeouts, so it has no deadline here.
 */
export const WAITING_STATES: readonly BmTaskState[] = [PREPARED, DEPLOYING];

export const DEFAULT_PXE_DEPLOY_TIMEOUT_S = 1800;

/**
 * When a node that entered `state` at `enteredAt` has waited too long: `enteredAt` plus
 * `timeoutS` seconds ([baremetal] pxe_deploy_timeout). Undefined for states that do not wait and
 * for a timeout of 0 (no limit). Nova counted one deadline from the start of the whole wait; pass
 * that start as `enteredAt` for both states to get its behaviour.
 */
export function deadlineFor(state: BmTaskState, enteredAt: Date, timeoutS: number): Date | undefined {
  if (!Number.isFinite(timeoutS) || timeoutS < 0)
    throw new RangeError(`pxe_deploy_timeout must be >= 0 (got ${timeoutS})`);
  if (timeoutS === 0 || !WAITING_STATES.includes(state)) return undefined;
  return new Date(enteredAt.getTime() + timeoutS * 1000);
}

/** True once `now` is past the deadline (strictly, as Nova's `utcnow() > expiration`). */
export function isExpired(state: BmTaskState, enteredAt: Date, timeoutS: number, now: Date): boolean {
  const deadline = deadlineFor(state, enteredAt, timeoutS);
  return deadline !== undefined && now.getTime() > deadline.getTime();
}

/** The warning to log at startup when pxe_deploy_timeout is 0; undefined otherwise. */
export function deployTimeoutWarning(timeoutS: number): string | undefined {
  if (timeoutS !== 0) return undefined;
  return (
    '[baremetal] pxe_deploy_timeout = 0 disables the deploy deadline (accepted for compatibility): ' +
    `a node whose ramdisk never calls back stays in '${PREPARED}' or '${DEPLOYING}' until its instance is deleted. ` +
    `Set it to a number of seconds, e.g. ${DEFAULT_PXE_DEPLOY_TIMEOUT_S}.`
  );
}

// ---------------------------------------------------------------------------------------------
// Compute's wait for the deploy (pxe.activate_node's poll loop), one poll at a time

export type WaitOutcome =
  /** Keep polling. `started` once the helper has the deploy (log "PXE deploy started" once). */
  { kind: 'waiting'; started: boolean } | { kind: 'done' } | { kind: 'failed'; reason: string };

/**
 * What one poll of the node row means for the spawn waiting on `expectedInstance`. `row` is
 * undefined when the node is gone; `expired` is the caller's isExpired(...) at the time of the poll.
 * A finished deploy wins over an expired deadline, as in Nova.
 */
export function waitOutcome(
  row: { task_state: BmTaskState; instance_uuid: string | null } | undefined,
  expectedInstance: string,
  expired = false,
): WaitOutcome {
  if (row === undefined) {
    return {
      kind: 'failed',
      reason: `Baremetal node deleted while waiting for deployment of instance ${expectedInstance}`,
    };
  }
  if (row.instance_uuid !== expectedInstance) {
    return {
      kind: 'failed',
      reason: `Node associated with another instance while waiting for deploy of ${expectedInstance}`,
    };
  }
  switch (row.task_state) {
    case DEPLOYDONE:
    case ACTIVE:
      return { kind: 'done' };
    case DEPLOYFAIL:
      return { kind: 'failed', reason: `PXE deploy failed for instance ${expectedInstance}` };
    case BUILDING:
    case PREPARED:
    case DEPLOYING:
      if (expired)
        return {
          kind: 'failed',
          reason: `Timeout reached while waiting for PXE deploy of instance ${expectedInstance}`,
        };
      return { kind: 'waiting', started: row.task_state === DEPLOYING };
    default:
      // error, deleted or NULL while still ours: someone else ended this spawn; Nova waited on.
      return {
        kind: 'failed',
        reason: `Node left the deploy (task_state ${row.task_state ?? 'NULL'}) while waiting for deploy of ${expectedInstance}`,
      };
  }
}

// ---------------------------------------------------------------------------------------------
// The machine drawn

/** The state machine as a Mermaid state diagram, one arrow per allowed (from, event) (docs/architecture.md). */
export function renderStateDiagram(): string {
  const id = (s: BmTaskState) => (s === null ? 'NULL' : s.replace(/ /g, '_'));
  const named = BM_TASK_STATES.filter((s) => s !== null && s.includes(' ')).map((s) => `  state "${s}" as ${id(s)}`);
  const arrows = NODE_EVENTS.flatMap((event) =>
    ALLOWED[event].from.map((from) => `  ${id(from)} --> ${id(ALLOWED[event].to)}: ${event}`),
  );
  return ['stateDiagram-v2', ...named, ...arrows].join('\n');
}
