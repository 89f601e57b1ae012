import type { BmTaskState } from './states';

/**
 * One error hierarchy for the whole system, named like Nova's exceptions where Nova has a name
 * (nova/exception.py, nova/virt/baremetal/db/sqlalchemy/api.py). The names travel over RPC in
 * oslo's failure format, so they are spelled out as strings rather than taken from the class
 * (bundlers may rename classes).
 */
export type ErrorKind = 'not_found' | 'invalid' | 'conflict' | 'internal';

export abstract class NovaBmError extends Error {
  abstract override readonly name: string;
  abstract readonly kind: ErrorKind;
}

export class NodeNotFound extends NovaBmError {
  readonly name = 'NodeNotFound';
  readonly kind = 'not_found';
  constructor(readonly nodeRef: string | number) {
    super(`Node ${nodeRef} could not be found.`);
  }
}

export class InstanceNotFound extends NovaBmError {
  readonly name = 'InstanceNotFound';
  readonly kind = 'not_found';
  constructor(readonly instanceId: string) {
    super(`Instance ${instanceId} could not be found.`);
  }
}

export class InterfaceNotFound extends NovaBmError {
  readonly name = 'InterfaceNotFound';
  readonly kind = 'not_found';
  constructor(nodeRef: string | number, ifaceRef: string | number) {
    super(`Baremetal node ${nodeRef} has no interface ${ifaceRef}.`);
  }
}

/**
 * One bad field of a request. `line` is set when it came from a CSV file, `entry` (1-based)
 * when it came from a JSON list.
 */
export interface FieldProblem {
  line?: number;
  entry?: number;
  field: string;
  message: string;
}

export class InvalidParameterValue extends NovaBmError {
  readonly name = 'InvalidParameterValue';
  readonly kind = 'invalid';
  constructor(
    readonly problems: FieldProblem[],
    summary = 'Invalid parameter value',
  ) {
    super(`${summary}: ${problems.map(formatProblem).join('; ')}`);
  }
}

/** A MAC is enrolled twice, a node still carries an instance, … */
export class Conflict extends NovaBmError {
  readonly name: string;
  readonly kind = 'conflict';
  constructor(message: string, name = 'Conflict') {
    super(message);
    this.name = name;
  }
}

/** A bulk import in which at least one row is bad: nothing of the file was written. */
export class ImportRejected extends NovaBmError {
  readonly name = 'ImportRejected';
  readonly kind = 'invalid';
  constructor(
    readonly file: string,
    readonly problems: FieldProblem[],
  ) {
    const rows = new Set(problems.map((p) => p.line ?? p.entry)).size;
    super(
      `${file}: rejected, nothing was enrolled (${rows} bad row${rows === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
  }
}

/** A node state machine event that its current task_state does not allow (see node-state.ts). */
export class InvalidNodeStateTransition extends NovaBmError {
  readonly name = 'InvalidNodeStateTransition';
  readonly kind = 'conflict';
  constructor(
    readonly from: BmTaskState,
    readonly event: string,
    readonly allowedFrom: readonly BmTaskState[],
  ) {
    const show = (s: BmTaskState) => (s === null ? 'NULL' : `'${s}'`);
    super(`Event ${event} is not allowed in task_state ${show(from)} (only from ${allowedFrom.map(show).join(', ')}).`);
  }
}

export function formatProblem(p: FieldProblem): string {
  const where = p.line !== undefined ? `line ${p.line}: ` : p.entry !== undefined ? `entry ${p.entry}: ` : '';
  return `${where}${p.field}: ${p.message}`;
}

export class HypervisorNotFound extends NovaBmError {
  readonly name = 'HypervisorNotFound';
  readonly kind = 'not_found';
  constructor(readonly ref: string) {
    super(`Hypervisor ${ref} could not be found.`);
  }
}
