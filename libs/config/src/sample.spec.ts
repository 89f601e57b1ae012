import { join } from 'node:path';
import { parseIni } from './ini';
import { type BmConfig, GROUP_SCHEMAS, loadConfig, loadConfigFromText } from './load';
import { type OptionGroup } from './options';
import { renderSampleConfig, sampleValue } from './sample';
import { nonEmptyString } from './value-types';

// deploy/nova.conf.sample works as shipped; test/docs.spec.ts keeps it current (`npm run docs`).
const SHIPPED = join(__dirname, '../../../deploy/nova.conf.sample');
const GROUPS = Object.keys(GROUP_SCHEMAS) as OptionGroup[];

/** A config without its sources (which name the file). */
function values(config: BmConfig): Omit<BmConfig, 'sources'> {
  const { sources: _sources, ...rest } = config;
  return rest;
}

/** Every `#name = value` line of the sample, uncommented. */
function uncommented(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(/^#([a-z0-9_]+) =/gm, (_line, name: string) => {
    count++;
    return `${name} =`;
  });
  return { text: out, count };
}

describe('the sample nova.conf', () => {
  const defaults = values(loadConfig({ env: {} }));

  it('gives exactly the defaults, with no warning, loaded as it is', () => {
    const config = loadConfigFromText(renderSampleConfig(), { file: 'nova.conf.sample', env: {} });
    expect(values(config)).toEqual(defaults);
    expect(config.warnings).toEqual([]);
  });

  it('as shipped in deploy/ too', () => {
    const config = loadConfig({ configFile: SHIPPED, env: {} });
    expect(values(config)).toEqual(defaults);
    expect(config.sources.files).toEqual([SHIPPED]);
  });

  it('has every option of the schema once, in its own section, and nothing else', () => {
    const doc = parseIni(uncommented(renderSampleConfig()).text, 'sample');
    expect(doc.errors).toEqual([]);
    expect([...doc.sections.keys()]).toEqual(['DEFAULT', ...GROUPS.filter((g) => g !== 'DEFAULT').sort()]);
    for (const group of GROUPS) {
      const entries = [...doc.sections.get(group)!.entries.values()];
      expect({ group, names: entries.map((all) => all[0].key) }).toEqual({
        group,
        names: Object.keys(GROUP_SCHEMAS[group]),
      });
      expect(entries.every((all) => all.length === 1)).toBe(true);
    }
  });

  it('gives the defaults with every option uncommented, but for the machine-dependent ones', () => {
    const { text, count } = uncommented(renderSampleConfig());
    expect(count).toBe(GROUPS.reduce((n, group) => n + Object.keys(GROUP_SCHEMAS[group]).length, 0));
    const config = loadConfigFromText(text, { file: 'uncommented.conf', env: {} });
    expect(config.warnings).toEqual([]);
    // The only machine-dependent default, `host` (oslo's sample_default), reads as its placeholder.
    expect(config.default.host).toBe('<current_hostname>');
    expect(values(config)).toEqual({ ...defaults, default: { ...defaults.default, host: '<current_hostname>' } });
  });

  it('shows a machine-dependent default by a placeholder, with its meaning', () => {
    const text = renderSampleConfig();
    expect(text).toContain("# Default: this machine's hostname\n#host = <current_hostname>\n");
    expect(text).toContain('# This option has a sample default set');
  });

  it('annotates each option with its help, type, environment variable and deprecated names', () => {
    const text = renderSampleConfig();
    expect(text).toContain(
      [
        '# PostgreSQL URL of the nova_bm database. (postgresql:// URL)',
        '# Deprecated name: baremetal_sql_connection (in any section, with a',
        '# warning)',
        '# Environment variables: BM_SQL_CONNECTION, DATABASE_URL',
        '#sql_connection = postgresql://postgres@127.0.0.1:5432/nova_bm',
      ].join('\n'),
    );
    expect(text).toContain('# Multi valued: every `driver =` line adds to the list, in every file.');
    expect(text).toContain('# Also spelled: flavor_extra_specs');
  });

  it('wraps comments at 70 columns as oslo-config-generator does (a longer line is one word)', () => {
    const long = renderSampleConfig()
      .split('\n')
      .filter((line) => line.startsWith('# ') && line.length > 70);
    expect(long.filter((line) => line.slice(2).includes(' '))).toEqual([]);
  });

  it('refuses an option whose default no text gives back', () => {
    const def = { type: nonEmptyString, default: '', help: 'h' };
    expect(() => sampleValue('DEFAULT', 'x', def)).toThrow('[DEFAULT] x: no text parses back to its default');
    expect(sampleValue('DEFAULT', 'x', { ...def, default: ' padded ' })).toBe('" padded "');
  });
});
