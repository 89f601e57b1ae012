import { parse as parseYaml } from 'yaml';
import type { NodeView } from '@bm/enrollment';
import { parseCsv } from '../test/formats';
import { CliError } from './errors';
import { type Column, type OutputOptions, formatList, formatRecord, nodeTable, nodesTable, table } from './output';

// A node enrolled before control characters were refused: its pm_user is an ANSI sequence that
// clears the screen and sets the window title.
const node: NodeView = {
  id: 1,
  uuid: '6f1c7c0e-0000-4000-8000-000000000001',
  service_host: 'cn1',
  cpus: 1,
  memory_mb: 512,
  local_gb: 5,
  cpu_arch: 'x86_64',
  pm_address: '10.0.0.1:623',
  pm_user: '\u001b[2J\u001b]0;owned\u0007admin',
  pm_password: '******',
  terminal_port: null,
  instance_uuid: null,
  instance_name: 'web\nforged-row',
  task_state: null,
  maintenance: false,
  maintenance_reason: null,
  maintenance_at: null,
  created_at: null,
  updated_at: null,
  interfaces: [
    { id: 1, address: '52:54:00:00:00:01', datapath_id: null, port_no: null, vif_uuid: null },
    { id: 2, address: '52:54:00:00:00:02', datapath_id: null, port_no: null, vif_uuid: null },
  ],
};

describe('bmctl tables', () => {
  it('show control characters of values escaped, never send them to the terminal', () => {
    for (const out of [nodesTable([node]), nodeTable(node)]) {
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/); // only the table's own newlines
      expect(out).toContain('\\x1b[2J\\x1b]0;owned\\x07admin');
    }
    expect(nodeTable(node)).toContain('web\\nforged-row');
  });

  it('a list is one value per line of its cell (the MACs of a node)', () => {
    const lines = nodesTable([node]).split('\n');
    expect(lines.some((l) => l.includes('52:54:00:00:00:01'))).toBe(true);
    expect(lines.some((l) => l.includes('52:54:00:00:00:02') && !l.includes('52:54:00:00:00:01'))).toBe(true);
    expect(table(['A'], [[['x', 'y\u001b']]])).toContain('y\\x1b');
  });
});

interface Flavor {
  id: number;
  name: string;
  ram: number;
  specs: string[];
  created: Date | null;
}

const flavors: Flavor[] = [
  { id: 1, name: 'bm.small', ram: 512, specs: ['cpu_arch=x86_64', 'a=b'], created: new Date('2024-03-04T05:06:07Z') },
  { id: 2, name: 'say "hi", then\tgo', ram: 2048, specs: [], created: null },
];

const COLUMNS: Column<Flavor>[] = [
  { header: 'ID', value: (f) => f.id },
  { header: 'Name', value: (f) => f.name },
  { header: 'RAM', value: (f) => f.ram },
  { header: 'Extra Specs', value: (f) => f.specs },
  { header: 'Created', value: (f) => f.created, long: true },
];

const opts = (o: Partial<OutputOptions> = {}): OutputOptions => ({ format: 'table', columns: [], long: false, ...o });

describe('formatList (cliff list formats)', () => {
  const asObjects = [
    { ID: 1, Name: 'bm.small', RAM: 512, 'Extra Specs': ['cpu_arch=x86_64', 'a=b'] },
    { ID: 2, Name: 'say "hi", then\tgo', RAM: 2048, 'Extra Specs': [] },
  ];

  it('json: a list of objects keyed by header, lists kept, long columns left out', () => {
    expect(JSON.parse(formatList(flavors, COLUMNS, opts({ format: 'json' })))).toEqual(asObjects);
  });

  it('yaml: the same data', () => {
    expect(parseYaml(formatList(flavors, COLUMNS, opts({ format: 'yaml' })))).toEqual(asObjects);
  });

  it('--long adds the long columns (dates in ISO 8601, nothing as null)', () => {
    const rows = JSON.parse(formatList(flavors, COLUMNS, opts({ format: 'json', long: true }))) as unknown[];
    expect(rows).toEqual([
      { ...asObjects[0], Created: '2024-03-04T05:06:07.000Z' },
      { ...asObjects[1], Created: null },
    ]);
  });

  it('csv: a header line and a line a row, RFC 4180 quoting, lists joined by commas, control characters escaped', () => {
    expect(parseCsv(formatList(flavors, COLUMNS, opts({ format: 'csv' })))).toEqual([
      ['ID', 'Name', 'RAM', 'Extra Specs'],
      ['1', 'bm.small', '512', 'cpu_arch=x86_64,a=b'],
      ['2', 'say "hi", then\\tgo', '2048', ''],
    ]);
  });

  it('value: the values space-separated, a line a row', () => {
    expect(formatList(flavors, COLUMNS, opts({ format: 'value', columns: ['Name', 'ID'] })).split('\n')).toEqual([
      'bm.small 1',
      'say "hi", then\\tgo 2',
    ]);
  });

  it('table: the plain table, a list one value per line', () => {
    const out = formatList(flavors, COLUMNS, opts());
    const lines = out.split('\n');
    expect(lines[1]).toMatch(/│ ID │ Name +│ RAM +│ Extra Specs +│/);
    expect(lines.some((l) => l.includes('cpu_arch=x86_64') && !l.includes('a=b'))).toBe(true);
    expect(lines.some((l) => /│ +│ +│ +│ a=b +│/.test(l))).toBe(true);
    expect(out).not.toContain('Created');
  });

  it('-c picks and orders columns, a long one included; an unknown one is a usage error naming the known ones', () => {
    expect(JSON.parse(formatList(flavors, COLUMNS, opts({ format: 'json', columns: ['Created', 'ID'] })))).toEqual([
      { Created: '2024-03-04T05:06:07.000Z', ID: 1 },
      { Created: null, ID: 2 },
    ]);
    let thrown: unknown;
    try {
      formatList(flavors, COLUMNS, opts({ columns: ['ID', 'Nmae'] }));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(CliError);
    expect((thrown as CliError).kind).toBe('usage');
    expect((thrown as CliError).message).toBe('no column "Nmae" (-c); columns: ID, Name, RAM, Extra Specs, Created');
  });

  it('an empty list: [] in json, the header in csv, nothing in value', () => {
    expect(JSON.parse(formatList([], COLUMNS, opts({ format: 'json' })))).toEqual([]);
    expect(parseCsv(formatList([], COLUMNS, opts({ format: 'csv' })))).toEqual([['ID', 'Name', 'RAM', 'Extra Specs']]);
    expect(formatList([], COLUMNS, opts({ format: 'value' }))).toBe('');
  });
});

describe('formatRecord (cliff show formats)', () => {
  const record = {
    id: 7,
    name: 'bm.small',
    properties: ['cpu_arch=x86_64', 'x=y'],
    stats: { cpu_arch: 'x86_64', nested: { a: [1] } },
    pm_user: '\u001b[2Jadmin',
    deleted_at: null,
  };

  it('json and yaml: the object', () => {
    expect(JSON.parse(formatRecord(record, opts({ format: 'json' })))).toEqual(record);
    expect(parseYaml(formatRecord(record, opts({ format: 'yaml' })))).toEqual(record);
  });

  it('table: a Field/Value table, lists one per line, objects as key=value lines, escaped', () => {
    const out = formatRecord(record, opts());
    expect(out.split('\n')[1]).toMatch(/│ Field +│ Value +│/);
    expect(out).toMatch(/│ stats +│ cpu_arch=x86_64 +│\n│ +│ nested=\{"a":\[1\]\} +│/);
    expect(out).toContain('\\x1b[2Jadmin');
    expect(out.split('\n').some((l) => l.includes('x=y') && !l.includes('properties'))).toBe(true);
  });

  it('csv: the fields as the header, the values as one line; value: one value a line', () => {
    expect(parseCsv(formatRecord(record, opts({ format: 'csv', columns: ['name', 'properties', 'stats'] })))).toEqual([
      ['name', 'properties', 'stats'],
      ['bm.small', 'cpu_arch=x86_64,x=y', 'cpu_arch=x86_64,nested={"a":[1]}'],
    ]);
    expect(formatRecord(record, opts({ format: 'value', columns: ['pm_user', 'id', 'deleted_at'] }))).toBe(
      '\\x1b[2Jadmin\n7\n',
    );
  });

  it('-c with an unknown field is a usage error', () => {
    expect(() => formatRecord(record, opts({ columns: ['nope'] }))).toThrow(
      new CliError('no field "nope" (-c); fields: id, name, properties, stats, pm_user, deleted_at', 'usage'),
    );
  });
});
