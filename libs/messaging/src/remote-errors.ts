import type { Failure } from './envelope';
import { RemoteError } from './errors';

/**
 * Rebuilds a remote exception: the error carries the remote class name as its `name`, so callers
 * test `e.name === 'NodeNotFound'` (or `instanceof RemoteError`) whatever language raised it,
 * and the whole failure (module, traceback, kwargs) stays available as `e.remote`.
 */
export function rebuildError(f: Failure): RemoteError {
  return new RemoteError(f);
}

export function isRemote(e: unknown, className?: string): e is RemoteError {
  return e instanceof RemoteError && (className === undefined || e.remote.class === className);
}
