import { namedError } from '@bm/core';
/** Where a configuration value came from and what is wrong (or suspicious) about it. */
export interface ConfigIssue {
  /** Config file path, for values read from a file. */
  readonly file?: string;
  /** 1-based line number in `file`. */
  readonly line?: number;
  /** Environment variable name, for values read from the environment. */
  readonly env?: string;
  /** `DEFAULT`, `baremetal` or an unknown section name, as written. */
  readonly group?: string;
  /** Option name as written (may be a deprecated spelling). */
  readonly option?: string;
  readonly message: string;
}

/** Something accepted but worth telling the operator about. */
export type ConfigWarning = ConfigIssue;
/** Something that makes the configuration unusable. */
export type ConfigProblem = ConfigIssue;

/** `<file>:<line>: [<group>] <option>: <message>` or `environment BM_X: [<group>] <option>: <message>`. */
export function formatIssue(issue: ConfigIssue): string {
  const location =
    issue.env !== undefined
      ? `environment ${issue.env}`
      : issue.file !== undefined && issue.line !== undefined
        ? `${issue.file}:${issue.line}`
        : issue.file;
  const group = issue.group !== undefined ? `[${issue.group}]` : undefined;
  const scope = [group, issue.option].filter((part) => part !== undefined).join(' ');
  return [location, scope, issue.message].filter((part) => part !== undefined && part !== '').join(': ');
}

/** Builds a frozen issue whose `String(issue)` is the formatted line. */
export function makeIssue(fields: ConfigIssue): ConfigIssue {
  const issue: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) issue[key] = value;
  // Non-enumerable so that issues still compare and serialise as plain data.
  Object.defineProperty(issue, 'toString', { value: () => formatIssue(fields), enumerable: false });
  return Object.freeze(issue) as unknown as ConfigIssue;
}

/** Every problem found while loading the configuration, reported at once. */
export class ConfigError extends namedError('ConfigError', 'config') {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid nova-bm configuration (${count}):\n${problems.map((p) => `  ${formatIssue(p)}`).join('\n')}`);
    this.problems = Object.freeze([...problems]);
  }
}
