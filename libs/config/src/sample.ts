import { isDeepStrictEqual } from 'node:util';
import { GROUP_SCHEMAS } from './load';
import { envVarName, type OptionDef, type OptionGroup } from './options';

/** oslo-config-generator's default `--wrap-width`: help lines are at most this long, `# ` included. */
const WRAP_WIDTH = 70;

const HEADER = [
  '# nova-bm: a sample nova.conf, every option at its default.',
  '#',
  '# Generated from libs/config/src/options.ts by `npm run docs`, as',
  '# oslo-config-generator makes its samples; do not edit by hand.',
  '#',
  '# Every option is commented out: loaded as it is, this file gives the',
  '# defaults. Uncomment what you change, or leave this file alone and',
  '# put the changes in a file read after it (`--config-file nova.conf',
  '# --config-file local.conf`, or `--config-dir DIR`: its *.conf files',
  '# in name order); the last file that sets an option wins. An',
  '# environment variable (named under each option) overrides every',
  '# file. docs/configuration.md lists the same options as a table.',
];

/** deploy/nova.conf.sample: the oslo-config-generator-style sample of every option in the schema. */
export function renderSampleConfig(): string {
  // As oslo-config-generator: [DEFAULT] first, then the other groups by name.
  const groups = (Object.keys(GROUP_SCHEMAS) as OptionGroup[]).sort((a, b) =>
    a === 'DEFAULT' ? -1 : b === 'DEFAULT' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const out: string[] = [...HEADER, ''];
  groups.forEach((group, index) => {
    if (index > 0) out.push('', '');
    out.push(`[${group}]`, '', '#', '# From nova-bm', '#');
    for (const [name, def] of Object.entries(GROUP_SCHEMAS[group])) out.push('', ...describeOption(group, name, def));
  });
  return out.join('\n') + '\n';
}

function describeOption(group: OptionGroup, name: string, def: OptionDef<unknown>): string[] {
  const lines = wrap(`${def.help} (${def.type.description})`);
  if (def.multi === true) lines.push(`# Multi valued: every \`${name} =\` line adds to the list, in every file.`);
  for (const other of def.otherNames ?? []) lines.push(`# Also spelled: ${other}`);
  for (const old of def.deprecatedNames ?? [])
    lines.push(...wrap(`Deprecated name: ${old} (in any section, with a warning)`));
  const env = [def.env ?? envVarName(name), ...(def.envAliases ?? [])];
  lines.push(`# Environment variable${env.length > 1 ? 's' : ''}: ${env.join(', ')}`);
  if (def.sampleDefault !== undefined) {
    // oslo-config-generator's words for a sample_default.
    lines.push(
      '#',
      '# This option has a sample default set, which means that',
      '# its actual default value may vary from the one documented',
      '# below.',
    );
  }
  const value = sampleValue(group, name, def);
  if (def.defaultText !== undefined && def.defaultText !== value) lines.push(`# Default: ${def.defaultText}`);
  lines.push(value === '' ? `#${name} =` : `#${name} = ${value}`);
  return lines;
}

/**
 * The text that, uncommented, gives the option its default: the sample default when the
 * default depends on the machine, else the first of the default's description and its plain
 * rendering that parses back, without a warning, to exactly the default.
 */
export function sampleValue(group: OptionGroup, name: string, def: OptionDef<unknown>): string {
  if (def.sampleDefault !== undefined) return def.sampleDefault;
  const candidates = [def.defaultText, plainText(def.default)].filter((text) => text !== undefined);
  for (const text of candidates) {
    const quoted = text.trim() !== text ? `"${text}"` : text;
    if (parsesTo(def, text)) return quoted;
  }
  throw new Error(
    `[${group}] ${name}: no text parses back to its default (${JSON.stringify(def.default)}): ` +
      'give it a defaultText that does, or a sampleDefault if it depends on the machine',
  );
}

function parsesTo(def: OptionDef<unknown>, text: string): boolean {
  let warned = false;
  try {
    const value = def.type.parse(text, () => (warned = true));
    return !warned && isDeepStrictEqual(value, def.default);
  } catch {
    return false;
  }
}

/** The default as a config file spells it: lists comma-separated, `key:value` maps, null as empty. */
function plainText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(String).join(',');
  if (typeof value === 'object')
    return Object.entries(value)
      .map(([key, item]) => `${key}:${String(item)}`)
      .join(',');
  return String(value);
}

/** Python's textwrap.wrap(text, 70, initial_indent='# ', subsequent_indent='# ', break_long_words=False). */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '#' && line.length + 1 + word.length > WRAP_WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}
