/**
 * oslo's `version_is_compatible(imp_version, version)`: the same major, and the requested
 * minor (and revision) not above what the endpoint implements. A request without a version is
 * treated as 1.0, as oslo does.
 */
export function versionIsCompatible(served: string, requested: string | undefined | null): boolean {
  const want = parseVersion(requested ?? '1.0');
  const have = parseVersion(served);
  if (!want || !have) return false;
  if (want[0] !== have[0]) return false;
  if (want[1] !== have[1]) return want[1] < have[1];
  return want[2] <= have[2];
}

export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}
