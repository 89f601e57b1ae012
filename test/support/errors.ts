import { NovaBmError } from '@bm/core';
import type { FailureDescriber } from '@bm/messaging';

// libs/messaging sits below libs/domain, and its tests do not import it: these stand in for the
// domain's NodeNotFound and for the FailureDescriber a service registers (libs/domain's novaFailure).

/** An error shaped as libs/domain's NodeNotFound: name, kind, message and the `nodeRef` field. */
export class NodeNotFound extends NovaBmError {
  readonly name = 'NodeNotFound';
  readonly kind = 'not_found';
  constructor(readonly nodeRef: string | number) {
    super(`Node ${nodeRef} could not be found.`);
  }
}

/** As a service describes its errors to oslo peers: module nova.exception, own fields as kwargs. */
export const describeFailure: FailureDescriber = (e) =>
  e instanceof NovaBmError
    ? {
        module: 'nova.exception',
        kwargs: Object.fromEntries(
          Object.entries(e).filter(([k]) => !['name', 'kind', 'message', 'stack'].includes(k)),
        ),
      }
    : undefined;
