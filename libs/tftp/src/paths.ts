/**
 * Confinement of requested file names, lexically (no file system access): the result is a
 * relative POSIX path with no `.`/`..`/empty segments, or a TftpError(ACCESS_VIOLATION).
 * The file system provider then resolves symlinks and checks the real path (fs-provider.ts).
 */
import * as path from 'node:path';
import { TftpError, TftpErrorCode } from './errors';

function deny(message: string): never {
  throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, message);
}

function normalizeAlias(a: string): string | undefined {
  const p = path.posix.normalize(a.replace(/\\/g, '/')).replace(/\/+$/, '');
  return p.startsWith('/') && p.length > 1 ? p : undefined;
}

/**
 * `aliases` are absolute paths that name the root (the root's own absolute path, and e.g.
 * `/tftpboot` when configurations written for a classic tftpd use it): a request that starts
 * with one of them has that prefix removed.
 */
export function normalizeRequestPath(requested: string, aliases: readonly string[] = []): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(requested)) deny('file name contains a control character');
  let p = requested.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  const prefixes = aliases
    .map(normalizeAlias)
    .filter((a): a is string => a !== undefined)
    .sort((a, b) => b.length - a.length);
  for (const a of prefixes) {
    if (p === a || p.startsWith(`${a}/`)) {
      p = p.slice(a.length);
      break;
    }
  }
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) deny('file name escapes the TFTP root');
      out.pop();
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) deny('no file name');
  return out.join('/');
}

/** Whether `p` is `root` or below it (both absolute, already resolved). */
export function isWithin(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
