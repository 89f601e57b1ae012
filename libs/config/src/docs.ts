import { GROUP_SCHEMAS } from './load';
import { OPTION_GROUPS, describeOptions } from './options';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** docs/configuration.md, generated from the option schema (`npm run docs`). */
export function renderOptionsMarkdown(): string {
  const lines = [
    '# Configuration options',
    '',
    '<!-- Generated from libs/config/src/options.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every service and `bmctl` read one configuration at start: environment variables, then the',
    'nova.conf-style config files, then these defaults. The files are read as oslo.config reads',
    'them: each `--config-file PATH` (repeatable) and each `--config-dir DIR` (its `*.conf` files,',
    'sorted by name) in command-line order, and the last file that sets an option gives its value.',
    'Before them come `BM_CONFIG_FILE` (unless a `--config-file` is given) and the `*.conf` files of',
    '`BM_CONFIG_DIR` (unless a `--config-dir` is given), as oslo reads its default files and',
    'directories; a missing file or directory stops the process. A line starting with whitespace',
    'continues the value above it (joined with a newline), as in oslo.config; `key: value` works',
    "as `key = value`. A multi-valued option (oslo's MultiStrOpt, marked below) takes every line",
    'that sets it, in every file. Old option names are accepted with a warning; unknown options are',
    'warnings; a bad value stops the process with the file, line, option and reason. Durations',
    '(intervals, timeouts, polls) are whole seconds of at most 2147483 (about 24.8 days: what a Node',
    'timer holds; a longer one would fire at once). `deploy/nova.conf.sample` has every option,',
    'commented out at its default, with its help.',
  ];
  for (const group of OPTION_GROUPS) {
    lines.push('', `## [${group}]`, '', '| option | environment | default | meaning |', '|---|---|---|---|');
    for (const o of describeOptions().filter((d) => d.group === group)) {
      const names = [
        `\`${o.name}\``,
        ...o.otherNames.map((n) => `\`${n}\``),
        ...o.deprecatedNames.map((n) => `\`${n}\` (old)`),
      ];
      const env = [o.env, ...o.envAliases].map((e) => `\`${e}\``).join(', ');
      const multi = GROUP_SCHEMAS[group][o.name]?.multi === true ? '; multi-valued' : '';
      lines.push(
        `| ${names.join('<br>')} | ${env} | ${o.default === '' ? '(empty)' : `\`${cell(o.default)}\``} | ${cell(o.help)} (${o.type}${multi}) |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
