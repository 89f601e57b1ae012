import { type FieldProblem, NovaBmError, errorKind, formatProblem, namedError } from '@bm/core';
import { NOVA_EXCEPTION_CLASSES } from './nova-exceptions';
import type { BmTaskState } from './states';

/**
 * The system's errors, one class per case, named like Nova's exceptions where Nova has a name
 * (nova/exception.py, nova/virt/baremetal/db/sqlalchemy/api.py). The root (`NovaBmError`, its
 * `kind`) lives in libs/core so that the protocol libs can raise into the same hierarchy.
 */

// --- not_found ----------------------------------------------------------------------------

/** Nova's NotFound family: "<what> <ref> could not be found." */
function notFound(name: string, what: string) {
  return class extends namedError(name, 'not_found') {
    constructor(readonly ref: string | number) {
      super(`${what} ${ref} could not be found.`);
    }
  };
}

export class NodeNotFound extends notFound('NodeNotFound', 'Node') {}
export class InstanceNotFound extends notFound('InstanceNotFound', 'Instance') {}
export class HypervisorNotFound extends notFound('HypervisorNotFound', 'Hypervisor') {}
export class FlavorNotFound extends notFound('FlavorNotFound', 'Flavor') {}

/**
 * Nova's ConsoleNotAvailable (a NotFound): get_console_output of an instance whose node has no
 * console log. Its name and Nova's message are what a Nova caller rebuilds.
 */
export class ConsoleNotAvailable extends namedError('ConsoleNotAvailable', 'not_found') {
  constructor() {
    super('Guest does not have a console available.');
  }
}

export class InterfaceNotFound extends namedError('InterfaceNotFound', 'not_found') {
  constructor(nodeRef: string | number, ifaceRef: string | number) {
    super(`Baremetal node ${nodeRef} has no interface ${ifaceRef}.`);
  }
}

// --- invalid ------------------------------------------------------------------------------

export class InvalidParameterValue extends namedError('InvalidParameterValue', 'invalid') {
  constructor(
    readonly problems: FieldProblem[],
    summary = 'Invalid parameter value',
  ) {
    super(`${summary}: ${problems.map(formatProblem).join('; ')}`);
  }
}

/**
 * Nova's InstanceInvalidState: the instance is not in a state the operation allows (diagnostics
 * of a node that is not running). The fields are Nova's kwargs, so Nova's message is rebuilt
 * from them on its side.
 */
export class InstanceInvalidState extends namedError('InstanceInvalidState', 'invalid') {
  constructor(
    readonly instance_uuid: string,
    readonly attr: string,
    readonly state: string,
    readonly method: string,
  ) {
    super(`Instance ${instance_uuid} in ${attr} ${state}. Cannot ${method} while the instance is in this state.`);
  }
}

/**
 * Nova's InstanceEvacuateNotSupported: rebuild_instance with recreate (evacuate to another host).
 * A bare-metal instance is its node: it cannot be recreated elsewhere.
 */
export class InstanceEvacuateNotSupported extends namedError('InstanceEvacuateNotSupported', 'invalid') {
  constructor() {
    super('Instance evacuate is not supported.');
  }
}

/** A bulk import in which at least one row is bad: nothing of the file was written. */
export class ImportRejected extends namedError('ImportRejected', 'invalid') {
  constructor(
    readonly file: string,
    readonly problems: FieldProblem[],
  ) {
    const rows = new Set(problems.map((p) => p.line ?? p.entry)).size;
    const lines = problems.map((p) => `  ${formatProblem(p)}`).join('\n');
    super(`${file}: rejected, nothing was enrolled (${rows} bad row${rows === 1 ? '' : 's'}):\n${lines}`);
  }
}

// --- conflict -----------------------------------------------------------------------------

/** A node carries an instance (it cannot be claimed, or deleted). */
export class NodeAssociated extends namedError('NodeAssociated', 'conflict') {}
/** A node in maintenance (`bmctl node maintenance on`): not claimed; the build goes to another node. */
export class NodeInMaintenance extends namedError('NodeInMaintenance', 'conflict') {}
/**
 * The instance is on another live node already (a second build of it): refused, not rescheduled,
 * since every node would refuse it.
 */
export class InstanceAlreadyAssociated extends namedError('InstanceAlreadyAssociated', 'invalid') {}
/** A node's row changed under an operation (another writer won a race). */
export class NodeStateChanged extends namedError('NodeStateChanged', 'conflict') {}
/** A MAC is enrolled on a live node already. */
export class DuplicateMac extends namedError('DuplicateMac', 'conflict') {}
/** A BMC address manages a live node already. */
export class DuplicateBmc extends namedError('DuplicateBmc', 'conflict') {}

/** A node state machine event that its current task_state does not allow (see node-state.ts). */
export class InvalidNodeStateTransition extends namedError('InvalidNodeStateTransition', 'conflict') {
  constructor(
    readonly from: BmTaskState,
    readonly event: string,
    readonly allowedFrom: readonly BmTaskState[],
  ) {
    const show = (s: BmTaskState) => (s === null ? 'NULL' : `'${s}'`);
    super(`Event ${event} is not allowed in task_state ${show(from)} (only from ${allowedFrom.map(show).join(', ')}).`);
  }
}

export class FlavorExists extends namedError('FlavorExists', 'conflict') {
  constructor(readonly flavorName: string) {
    super(`Flavor ${flavorName} already exists`);
  }
}

/** An instance named by a name that several instances carry. */
export class AmbiguousInstance extends namedError('AmbiguousInstance', 'conflict') {
  constructor(
    readonly ref: string,
    readonly count: number,
  ) {
    super(`${count} instances are named ${ref}: use the uuid`);
  }
}

// --- scheduling -------------------------------------------------------------------------

/** Why a node was not chosen: the first filter that rejected it. */
export interface Rejection {
  host: string;
  nodename: string;
  filter: string;
  reason: string;
}

/**
 * A boot image the PXE deploy needs is not given (the seed's NovaException from
 * get_tftp_image_info): `labels` are the missing ones among kernel, ramdisk, deploy_kernel,
 * deploy_ramdisk. Nova names it NovaException; so do we on the wire.
 */
export class MissingBootImages extends namedError('NovaException', 'invalid') {
  constructor(readonly labels: string[]) {
    super(
      'Can not activate PXE bootloader. The following boot parameters were not passed to baremetal driver: ' +
        `[${labels.map((l) => `'${l}'`).join(', ')}]`,
    );
  }
}

/** No node passes the filters; `rejections` says which filter stopped each node. */
export class NoValidHost extends namedError('NoValidHost', 'conflict') {
  constructor(
    readonly reason: string,
    readonly rejections: Rejection[],
  ) {
    super(`No valid host was found. ${reason}`);
  }
}

// --- failed -------------------------------------------------------------------------------

/** The deploy did not finish: it failed, timed out, or the node was taken away. */
export class InstanceDeployFailure extends namedError('InstanceDeployFailure', 'failed') {}
export class InstanceRebootFailure extends namedError('InstanceRebootFailure', 'failed') {}

/**
 * Nova's compute reschedules a failed build to another node unless the request itself is at
 * fault (`invalid`) or the instance is gone (`not_found`): another node cannot help with those.
 */
export function worthRescheduling(e: unknown): boolean {
  const kind = errorKind(e);
  return kind !== 'invalid' && kind !== 'not_found';
}

/** Where Nova's own exception classes live, for oslo peers. */
export const NOVA_EXCEPTION = 'nova.exception';
/** Where ours are said to live: no Python module, so a Nova client makes them oslo RemoteErrors. */
export const OUR_EXCEPTION = 'nova_bm.exception';

/**
 * Our errors as an oslo peer should see them (messaging's FailureDescriber, registered by the
 * service): those Nova has (InstanceNotFound, NoValidHost, …) in Nova's exception module, with
 * the error's own fields as the kwargs to rebuild it; the rest (and any other Error) in ours.
 */
export function novaFailure(e: Error): { module: string; kwargs: Record<string, unknown> } | undefined {
  if (!(e instanceof NovaBmError)) return { module: OUR_EXCEPTION, kwargs: {} };
  const kwargs = Object.fromEntries(
    Object.entries(e).filter(([k]) => !['name', 'kind', 'message', 'stack'].includes(k)),
  );
  return { module: NOVA_EXCEPTION_CLASSES.has(e.name) ? NOVA_EXCEPTION : OUR_EXCEPTION, kwargs };
}
