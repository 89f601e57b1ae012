import type { FieldProblem } from '@bm/domain';
import { parseCsv } from './csv';

/**
 * `baremetal.csv`: one node per line, as HP's enrollment file for this flow:
 *   mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb[,cpu_arch,service_host,terminal_port]
 * An optional header line (first field `mac`) may name the columns in any order.
 */
export const CSV_COLUMNS = [
  'mac',
  'pm_user',
  'pm_password',
  'pm_address',
  'cpus',
  'memory_mb',
  'local_gb',
  'cpu_arch',
  'service_host',
  'terminal_port',
] as const;
const REQUIRED_COLUMNS = 7;
const INTEGER_FIELDS = new Set(['cpus', 'memory_mb', 'local_gb', 'terminal_port']);

/** One node as read from a file, before validation; `line` (CSV) or `entry` (JSON) locate it. */
export interface NodeRecord {
  line?: number;
  entry?: number;
  fields: Record<string, unknown>;
}

export interface ParsedNodeFile {
  format: 'csv' | 'json';
  records: NodeRecord[];
  problems: FieldProblem[];
}

export function detectFormat(text: string, fileName?: string): 'csv' | 'json' {
  if (fileName?.toLowerCase().endsWith('.json')) return 'json';
  if (fileName?.toLowerCase().endsWith('.csv')) return 'csv';
  return /^\s*[[{]/.test(text) ? 'json' : 'csv';
}

export function parseNodeFile(text: string, format: 'csv' | 'json'): ParsedNodeFile {
  return format === 'json' ? parseJson(text) : parseCsvNodes(text);
}

/** Integers in text form become numbers; anything else is left for validation to reject. */
function coerceInteger(value: string): number | string {
  return /^[+-]?[0-9]+$/.test(value) ? Number(value) : value;
}

function toFields(pairs: [string, string][]): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of pairs) {
    if (name === 'mac') fields.macs = [value];
    else if (value === '' && name !== 'pm_user' && name !== 'pm_password')
      continue; // optional, empty
    else fields[name] = INTEGER_FIELDS.has(name) ? coerceInteger(value) : value;
  }
  return fields;
}

function parseCsvNodes(text: string): ParsedNodeFile {
  const out: ParsedNodeFile = { format: 'csv', records: [], problems: [] };
  let rows;
  try {
    rows = parseCsv(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    const m = /^line (\d+): (.*)$/.exec((e as Error).message);
    out.problems.push({ line: m ? +m[1] : undefined, field: '(file)', message: m ? m[2] : (e as Error).message });
    return out;
  }
  let columns: readonly string[] = CSV_COLUMNS;
  if (rows.length && rows[0].fields[0].toLowerCase() === 'mac') {
    const header = rows.shift()!;
    columns = header.fields.map((f) => f.toLowerCase());
    const unknown = columns.filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
    const missing = CSV_COLUMNS.slice(0, REQUIRED_COLUMNS).filter((c) => !columns.includes(c));
    const repeated = columns.filter((c, i) => columns.indexOf(c) !== i);
    for (const c of unknown)
      out.problems.push({ line: header.line, field: '(header)', message: `unknown column '${c}'` });
    for (const c of missing)
      out.problems.push({ line: header.line, field: '(header)', message: `missing column '${c}'` });
    for (const c of repeated)
      out.problems.push({ line: header.line, field: '(header)', message: `column '${c}' appears twice` });
    if (out.problems.length) return out;
  }
  for (const row of rows) {
    const min = columns === CSV_COLUMNS ? REQUIRED_COLUMNS : columns.length;
    if (row.fields.length < min || row.fields.length > columns.length) {
      const want = min === columns.length ? `${min}` : `${min} to ${columns.length}`;
      out.problems.push({
        line: row.line,
        field: '(row)',
        message: `has ${row.fields.length} columns, expected ${want}`,
      });
      continue;
    }
    out.records.push({ line: row.line, fields: toFields(row.fields.map((v, i) => [columns[i], v])) });
  }
  if (!rows.length) out.problems.push({ field: '(file)', message: 'contains no nodes' });
  return out;
}

/** JSON: a list of node objects, or `{"nodes": [...]}`; each may give `mac` or `macs`. */
function parseJson(text: string): ParsedNodeFile {
  const out: ParsedNodeFile = { format: 'json', records: [], problems: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    out.problems.push({ field: '(file)', message: `not valid JSON: ${(e as Error).message}` });
    return out;
  }
  const list = Array.isArray(doc) ? doc : (doc as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(list)) {
    out.problems.push({ field: '(file)', message: 'expected a list of nodes or {"nodes": [...]}' });
    return out;
  }
  list.forEach((item, i) => {
    const entry = i + 1;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      out.problems.push({ entry, field: '(entry)', message: 'must be an object' });
      return;
    }
    const { mac, ...rest } = item as Record<string, unknown>;
    const fields: Record<string, unknown> = { ...rest };
    if (mac !== undefined) {
      if (rest.macs !== undefined) {
        out.problems.push({ entry, field: 'mac', message: 'give either mac or macs, not both' });
        return;
      }
      fields.macs = [mac];
    }
    out.records.push({ entry, fields });
  });
  if (!list.length) out.problems.push({ field: '(file)', message: 'contains no nodes' });
  return out;
}
