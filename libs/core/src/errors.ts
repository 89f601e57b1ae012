/**
 * The root of the one error hierarchy (every error the system raises on purpose is a
 * NovaBmError). Each subclass is named for what went wrong, like Nova's exceptions where Nova has
 * a name; the names travel over RPC in oslo's failure format, so each class spells its name out
 * as a string (bundlers may rename classes).
 *
 * `kind` says what sort of failure it is, and is what callers decide on: bmctl's exit status,
 * compute's reschedule decision, the HTTP status of a callback.
 */
export type ErrorKind =
  /** The request is wrong (bad field, unknown method): asking again the same way cannot help. */
  | 'invalid'
  /** What the request names does not exist. */
  | 'not_found'
  /** The request clashes with the current state (node taken, MAC enrolled, wrong task_state). */
  | 'conflict'
  /** The operation was tried and failed (a deploy, a BMC command, a remote call). */
  | 'failed'
  /** A peer (database, broker, BMC) cannot be reached. */
  | 'unavailable'
  /** No answer in time. */
  | 'timeout'
  /** The configuration is invalid. */
  | 'config'
  /** A command line is wrong (bmctl). */
  | 'usage';

export abstract class NovaBmError extends Error {
  abstract override readonly name: string;
  abstract readonly kind: ErrorKind;
}

/** The kind of any thrown value: a NovaBmError's own, 'failed' for anything else. */
export function errorKind(e: unknown): ErrorKind {
  return e instanceof NovaBmError ? e.kind : 'failed';
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

export function formatProblem(p: FieldProblem): string {
  const where = p.line !== undefined ? `line ${p.line}: ` : p.entry !== undefined ? `entry ${p.entry}: ` : '';
  return `${where}${p.field}: ${p.message}`;
}

/**
 * The base of an error class of this name and kind, so that each case is one declaration:
 * `export class NodeAssociated extends namedError('NodeAssociated', 'conflict') {}`.
 */
export function namedError<K extends ErrorKind>(name: string, kind: K) {
  return class extends NovaBmError {
    readonly name: string = name;
    readonly kind: K = kind;
  };
}
