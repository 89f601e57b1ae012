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
    'nova.conf-style file named by `--config-file PATH` or `BM_CONFIG_FILE`, then these defaults.',
    'Old option names are accepted with a warning; unknown options are warnings; a bad value stops',
    'the process with the file, line, option and reason. Durations (intervals, timeouts, polls) are',
    'whole seconds of at most 2147483 (about 24.8 days: what a Node timer holds; a longer one would',
    'fire at once).',
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
      lines.push(
        `| ${names.join('<br>')} | ${env} | ${o.default === '' ? '(empty)' : `\`${cell(o.default)}\``} | ${cell(o.help)} (${o.type}) |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
