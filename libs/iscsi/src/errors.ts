import { namedError } from '@bm/core';

// Every message names the target (IQN, portal, LUN) and the reason; none ever carries a password.

/** The target description itself is wrong (bad address, port, IQN or LUN). */
export class IscsiInvalidTarget extends namedError('IscsiInvalidTarget', 'invalid') {}

/** Nothing answers at the portal (connection refused, no route, no answer in time). */
export class IscsiTargetUnreachable extends namedError('IscsiTargetUnreachable', 'unavailable') {}

/** The portal answers but has no such target IQN or LUN. */
export class IscsiTargetNotFound extends namedError('IscsiTargetNotFound', 'not_found') {}

/** The target refused the login (CHAP credentials wrong or missing). */
export class IscsiLoginFailed extends namedError('IscsiLoginFailed', 'failed') {}

/** The attachment did not become usable in time (device node or FUSE export never appeared). */
export class IscsiAttachTimeout extends namedError('IscsiAttachTimeout', 'timeout') {}

/** Attaching failed for another reason (the initiator program failed, the export failed). */
export class IscsiAttachFailed extends namedError('IscsiAttachFailed', 'failed') {}

/** An attached LUN went away (the userspace initiator daemon died). */
export class IscsiSessionLost extends namedError('IscsiSessionLost', 'failed') {}

/** Detaching failed (logout refused, the FUSE mount could not be removed). */
export class IscsiDetachFailed extends namedError('IscsiDetachFailed', 'failed') {}

/** An unknown attacher mode in the configuration. */
export class IscsiModeInvalid extends namedError('IscsiModeInvalid', 'config') {}
