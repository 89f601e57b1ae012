/**
 * Flavor extra specs against a node's capabilities, with the semantics of Nova's
 * `scheduler/filters/extra_specs_ops.py` (what ComputeCapabilitiesFilter uses), and the parsing of
 * `[baremetal] instance_type_extra_specs` (`key:value` pairs reported as the node's stats).
 *
 * A requirement is compared with the capability's string value:
 *   `x86_64`           equal strings (no operator: the whole requirement is the value)
 *   `= 4`              numeric >= (the capability has at least 4)
 *   `== 4` `!= 4` `>= 4` `<= 4`             numeric
 *   `s== a` `s!= a` `s< a` `s<= a` `s> a` `s>= a`   string comparison
 *   `<in> sse4`        the capability contains the substring
 *   `<or> a <or> b`    the capability equals one of the listed values
 * A numeric operator on a non-number does not match (Nova's ValueError → False).
 */

type Compare = (have: string, want: string) => boolean;

function numeric(f: (a: number, b: number) => boolean): Compare {
  return (have, want) => {
    const a = Number(have);
    const b = Number(want);
    return have.trim() !== '' && want.trim() !== '' && Number.isFinite(a) && Number.isFinite(b) && f(a, b);
  };
}

const OPERATORS: Record<string, Compare> = {
  '=': numeric((a, b) => a >= b),
  '==': numeric((a, b) => a === b),
  '!=': numeric((a, b) => a !== b),
  '>=': numeric((a, b) => a >= b),
  '<=': numeric((a, b) => a <= b),
  's==': (a, b) => a === b,
  's!=': (a, b) => a !== b,
  's<': (a, b) => a < b,
  's<=': (a, b) => a <= b,
  's>': (a, b) => a > b,
  's>=': (a, b) => a >= b,
  '<in>': (a, b) => a.includes(b),
};

/** Compiles a requirement once into a test of capability values (the scheduler runs it per node). */
export function compileExtraSpec(requirement: string): (have: string | undefined) => boolean {
  const words = requirement.split(/\s+/).filter(Boolean);
  const op = words.shift();
  const compare = op === undefined ? undefined : OPERATORS[op];
  if (op !== '<or>' && !compare) return (have) => have === requirement;
  if (op === '<or>') {
    // `<or> a <or> b`: the values sit at every other position after the first operator.
    const values = new Set(words.filter((_, i) => i % 2 === 0));
    return (have) => have !== undefined && values.has(have);
  }
  const operand = words[0];
  return (have) => have !== undefined && operand !== undefined && compare!(have, operand);
}

/** Does the capability `have` (undefined = the node does not report it) satisfy `requirement`? */
export function matchExtraSpec(have: string | undefined, requirement: string): boolean {
  return compileExtraSpec(requirement)(have);
}

/**
 * The capability a flavor extra spec key asks about, or undefined when the filter must skip the
 * key: keys scoped with a prefix other than `capabilities:` belong to other consumers (e.g.
 * `baremetal:deploy_kernel_id`, `hw:cpu_policy`).
 */
export function capabilityKey(specKey: string): string | undefined {
  const i = specKey.indexOf(':');
  if (i < 0) return specKey;
  return specKey.slice(0, i) === 'capabilities' ? specKey.slice(i + 1) : undefined;
}

/**
 * `[baremetal] instance_type_extra_specs` (`cpu_arch:x86_64, rack:r1`) → the stats a node reports,
 * with `baremetal_driver` as Nova adds it; `cpu_arch` is always present ('' when not configured,
 * as Nova did with a warning).
 */
export function nodeStats(
  extraSpecs: Readonly<Record<string, string>>,
  driver: string,
  nodeCpuArch?: string | null,
): Record<string, string> {
  const stats: Record<string, string> = { baremetal_driver: driver, ...extraSpecs };
  // A node's own cpu_arch (bm_nodes.cpu_arch, migration 11) is more precise than the host-wide spec.
  if (nodeCpuArch) stats.cpu_arch = nodeCpuArch;
  if (stats.cpu_arch === undefined) stats.cpu_arch = '';
  return stats;
}
