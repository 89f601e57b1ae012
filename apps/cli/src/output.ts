import Table from 'cli-table3';
import { stringify as yamlStringify } from 'yaml';
import { printable } from '@bm/core';
import type { InterfaceView, NodeView } from '@bm/enrollment';
import { CliError } from './errors';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: live progress is redrawn in place there (default: plain lines). */
  errIsTty?: boolean;
}

/** The output formats of OpenStack's CLI (cliff's `-f`). */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'csv', 'value'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** One column of a list: its header (what `-c` names and JSON keys by), its value, shown by `--long` only. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  long?: boolean;
}

/** What the global options ask of an output: `-f`, `-c` (in the order given), `--long`. */
export interface OutputOptions {
  format: OutputFormat;
  columns: readonly string[];
  long: boolean;
}

export const DEFAULT_OUTPUT: OutputOptions = { format: 'table', columns: [], long: false };

// No colours, no rule between rows: readable in a terminal, a log file or a CI transcript.
const plain = {
  style: { head: [], border: [] },
  chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
};

/** A scalar as text: objects as JSON, dates in ISO 8601, nothing for null. Not yet escaped. */
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * A cell's text: control characters in values (an enrolled `pm_user` with ANSI escapes, a detail
 * with a newline) are shown escaped, never sent to the terminal; a list is one value per line, an
 * object one `key=value` per line (cliff's dict columns). CSV and value join them by `sep` (',').
 */
function cell(v: unknown, sep = '\n'): string {
  if (Array.isArray(v)) return v.map((x) => cell(x, sep)).join(sep);
  if (isMap(v))
    return Object.entries(v)
      .map(([k, x]) => printable(`${k}=${text(x)}`))
      .join(sep);
  return printable(text(v));
}

const flatCell = (v: unknown): string => cell(v, ',');

/**
 * A value as JSON and YAML carry it: lists and objects kept, dates as ISO 8601, nothing as null
 * (a property that is undefined is left out, as JSON.stringify does).
 */
function data(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map(data);
  if (typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, data(x)]),
    );
  return v;
}

/** Any data as JSON or YAML (what `print` shows for `-f json|yaml`). */
export function formatData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(data(value), null, 2) : yamlStringify(data(value)).replace(/\n$/, '');
}

/** A table of `rows` (a cell may be a list: one line each). */
export function table(head: string[], rows: unknown[][]): string {
  const t = new Table({ head, ...plain });
  for (const r of rows) t.push(r.map((v) => cell(v)));
  return t.toString();
}

/** One CSV field, quoted as RFC 4180 says when it holds a comma, a quote or a line break. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(head: readonly string[], rows: readonly string[][]): string {
  return [head, ...rows].map((r) => r.map(csvField).join(',')).join('\n');
}

/**
 * Which of `available` to show and in which order: those `-c` names (an unknown one is a usage
 * error that lists the known ones), else all of them.
 */
function choose<C extends { header: string }>(available: readonly C[], wanted: readonly string[], what: string): C[] {
  if (!wanted.length) return [...available];
  return wanted.map((name) => {
    const c = available.find((a) => a.header === name);
    if (!c)
      throw new CliError(
        `no ${what} ${JSON.stringify(name)} (-c); ${what}s: ${available.map((a) => a.header).join(', ')}`,
        'usage',
      );
    return c;
  });
}

/**
 * A list as cliff's list commands print it: table, JSON or YAML (a list of objects keyed by
 * header), CSV (a header line, then a line a row), value (the values, space-separated, a line a
 * row). `-c` picks columns, long ones included; otherwise long columns need `--long`.
 */
export function formatList<T>(rows: readonly T[], columns: readonly Column<T>[], o: OutputOptions): string {
  const shown = o.columns.length ? choose(columns, o.columns, 'column') : columns.filter((c) => o.long || !c.long);
  const head = shown.map((c) => c.header);
  const values = rows.map((r) => shown.map((c) => c.value(r)));
  switch (o.format) {
    case 'json':
    case 'yaml': {
      return formatData(
        values.map((v) => Object.fromEntries(head.map((h, i) => [h, v[i] ?? null]))),
        o.format,
      );
    }
    case 'csv':
      return csv(
        head,
        values.map((v) => v.map(flatCell)),
      );
    case 'value':
      return values.map((v) => v.map(flatCell).join(' ')).join('\n');
    case 'table':
      return table(head, values);
  }
}

/**
 * One object as cliff's show commands print it: a Field/Value table, a JSON or YAML object, CSV
 * (the fields as a header line, then the values), value (one value a line). `-c` picks fields.
 */
export function formatRecord(record: Record<string, unknown>, o: OutputOptions): string {
  const fields = choose(
    Object.entries(record).map(([header, value]) => ({ header, value })),
    o.columns,
    'field',
  );
  switch (o.format) {
    case 'json':
    case 'yaml': {
      return formatData(Object.fromEntries(fields.map((f) => [f.header, f.value ?? null])), o.format);
    }
    case 'csv':
      return csv(
        fields.map((f) => f.header),
        [fields.map((f) => flatCell(f.value))],
      );
    case 'value':
      return fields.map((f) => flatCell(f.value)).join('\n');
    case 'table':
      return table(
        ['Field', 'Value'],
        fields.map((f) => [f.header, f.value]),
      );
  }
}

/** The columns of `nova baremetal-node-list`, plus what our schema adds. */
export function nodesTable(nodes: NodeView[]): string {
  return table(
    [
      'ID',
      'UUID',
      'Host',
      'CPUs',
      'Memory_MB',
      'Disk_GB',
      'Arch',
      'MAC Address',
      'PM Address',
      'PM Username',
      'PM Password',
      'Terminal Port',
      'Instance',
      'State',
    ],
    nodes.map((n) => [
      n.id,
      n.uuid,
      n.service_host,
      n.cpus,
      n.memory_mb,
      n.local_gb,
      n.cpu_arch,
      n.interfaces.map((i) => i.address),
      n.pm_address,
      n.pm_user,
      n.pm_password,
      n.terminal_port,
      n.instance_uuid,
      n.task_state,
    ]),
  );
}

export function nodeTable(n: NodeView): string {
  const { interfaces, ...fields } = n;
  return table(['Property', 'Value'], [...Object.entries(fields), ['interfaces', interfaces.map((i) => i.address)]]);
}

/** The columns of `nova baremetal-interface-list`. */
export function interfacesTable(ifaces: InterfaceView[]): string {
  return table(
    ['ID', 'Datapath_ID', 'Port_No', 'Address'],
    ifaces.map((i) => [i.id, i.datapath_id, i.port_no, i.address]),
  );
}
