import { CliError } from '../errors';

/**
 * `flavor set|unset --property`: the flavor's extra specs (Nova's flavor properties) after the
 * change, as `openstack flavor set|unset` makes it. Pure: the repository applies it under a lock.
 */

/** `KEY=VALUE` as a `--property` of `flavor set`: the key must not be empty; the value may be. */
export function parseProperty(text: string): [string, string] {
  const i = text.indexOf('=');
  if (i <= 0) throw new CliError(`--property ${JSON.stringify(text)}: must be KEY=VALUE`, 'usage');
  return [text.slice(0, i), text.slice(i + 1)];
}

/** `flavor set`: `set` added or replaced, after removing every property first when `clear` (--no-property). */
export function setProperties(
  specs: Record<string, string>,
  set: Record<string, string>,
  clear = false,
): Record<string, string> {
  return { ...(clear ? {} : specs), ...set };
}

/** `flavor unset`: `keys` removed; a key the flavor does not have is refused (nothing is changed). */
export function unsetProperties(flavor: string, specs: Record<string, string>, keys: readonly string[]) {
  const missing = keys.filter((k) => !Object.hasOwn(specs, k));
  if (missing.length)
    throw new CliError(
      `flavor ${flavor} has no property ${missing.map((k) => JSON.stringify(k)).join(', ')}`,
      'invalid',
    );
  return Object.fromEntries(Object.entries(specs).filter(([k]) => !keys.includes(k)));
}
