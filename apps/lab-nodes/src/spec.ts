/**
 * The fleet's node file, JSON or CSV, one node per entry / row, with these fields:
 *
 *   mac                the node's NIC (what is enrolled)
 *   bmc_port           its virtual BMC's UDP port (0: any free one)
 *   bmc_user           default admin
 *   bmc_password_file  a file holding the BMC password (one line)
 *   disk_file          its disk: a sparse file, made (or grown) to disk_size
 *   disk_size          bytes, or with a binary suffix: 512M, 2G, 2GiB
 *   name               optional (default node-<mac without colons>)
 *   bmc_address        optional (default the fleet's, 127.0.0.1)
 *   callback           optional: always (default) or never (its deploy ramdisk never calls back)
 *
 * JSON: a list of objects, or `{ "nodes": [ … ] }`. CSV: a header line naming the fields, `#`
 * comments (fields are file names and numbers: no quoting). Relative file names are read from
 * the node file's directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { SimNodeSpec } from './sim-node';

export interface NodeFileEntry {
  name?: string;
  mac: string;
  bmc_address?: string;
  bmc_port: number;
  bmc_user: string;
  bmc_password_file: string;
  disk_file: string;
  disk_size: number;
  callback: 'always' | 'never';
}

const FIELDS = [
  'name',
  'mac',
  'bmc_address',
  'bmc_port',
  'bmc_user',
  'bmc_password_file',
  'disk_file',
  'disk_size',
  'callback',
] as const;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `2G`, `512MiB`, `1048576` → bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^([0-9]+)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2].toUpperCase()];
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Reads the entries (JSON when it starts with `[` or `{`, else CSV); throws naming every problem. */
export function parseNodeFile(text: string): NodeFileEntry[] {
  const trimmed = text.trim();
  const raw: { where: string; fields: Record<string, unknown> }[] = [];
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    const data = JSON.parse(trimmed) as unknown;
    const list = Array.isArray(data) ? data : (data as { nodes?: unknown }).nodes;
    if (!Array.isArray(list)) throw new Error('a JSON node file is a list of nodes, or { "nodes": [ … ] }');
    list.forEach((fields, i) =>
      raw.push({ where: `entry ${i + 1}`, fields: (fields ?? {}) as Record<string, unknown> }),
    );
  } else {
    const lines = text
      .split(/\r?\n/)
      .map((l, i) => ({ line: i + 1, text: l.trim() }))
      .filter((l) => l.text && !l.text.startsWith('#'));
    if (!lines.length) return [];
    const header = lines[0].text.split(',').map((h) => h.trim().toLowerCase());
    const unknown = header.filter((h) => !(FIELDS as readonly string[]).includes(h));
    if (unknown.length) throw new Error(`line ${lines[0].line}: unknown column(s) ${unknown.join(', ')}`);
    for (const l of lines.slice(1)) {
      const values = l.text.split(',').map((v) => v.trim());
      if (values.length !== header.length)
        throw new Error(`line ${l.line}: ${values.length} fields, the header has ${header.length}`);
      raw.push({ where: `line ${l.line}`, fields: Object.fromEntries(header.map((h, i) => [h, values[i]])) });
    }
  }
  const problems: string[] = [];
  const out = raw.map(({ where, fields: f }) => {
    const str = (k: string) => (f[k] === undefined || f[k] === null || f[k] === '' ? undefined : String(f[k]));
    const bad = (k: string, why: string) => problems.push(`${where}: ${k} ${why}`);
    const mac = str('mac') ?? '';
    if (!MAC.test(mac)) bad('mac', `${JSON.stringify(mac)} is not a MAC address`);
    const port = Number(str('bmc_port') ?? NaN);
    if (!Number.isInteger(port) || port < 0 || port > 65535) bad('bmc_port', 'must be a port number (0: any)');
    const size = parseSize(str('disk_size') ?? '');
    if (size === undefined) bad('disk_size', 'must be a size (bytes, or 512M, 2G…)');
    for (const k of ['bmc_password_file', 'disk_file']) if (!str(k)) bad(k, 'is required');
    const callback = str('callback') ?? 'always';
    if (callback !== 'always' && callback !== 'never') bad('callback', 'must be always or never');
    const name = str('name');
    const address = str('bmc_address');
    return {
      ...(name ? { name } : {}),
      mac: mac.toLowerCase(),
      ...(address ? { bmc_address: address } : {}),
      bmc_port: port,
      bmc_user: str('bmc_user') ?? 'admin',
      bmc_password_file: str('bmc_password_file') ?? '',
      disk_file: str('disk_file') ?? '',
      disk_size: size ?? 0,
      callback: callback as 'always' | 'never',
    };
  });
  if (problems.length) throw new Error(`invalid node file: ${problems.join('; ')}`);
  return out;
}

/** The node file `file` as fleet specs: passwords read from their files, paths resolved. */
export async function loadNodeSpecs(file: string, defaults: { bmcAddress?: string } = {}): Promise<SimNodeSpec[]> {
  const base = dirname(resolve(file));
  const entries = parseNodeFile(await readFile(file, 'utf8'));
  const specs: SimNodeSpec[] = [];
  for (const e of entries) {
    const password = (await readFile(resolve(base, e.bmc_password_file), 'utf8')).replace(/\r?\n$/, '');
    if (!password) throw new Error(`${e.bmc_password_file}: empty BMC password`);
    specs.push({
      name: e.name ?? `node-${e.mac.replace(/:/g, '')}`,
      mac: e.mac,
      bmc: {
        ...(e.bmc_address || defaults.bmcAddress ? { address: e.bmc_address ?? defaults.bmcAddress } : {}),
        port: e.bmc_port,
        user: e.bmc_user,
        password,
      },
      disk: { file: resolve(base, e.disk_file), sizeBytes: e.disk_size },
      callback: e.callback,
    });
  }
  return specs;
}
