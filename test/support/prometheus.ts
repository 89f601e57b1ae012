// A parser of Prometheus's text exposition format (version 0.0.4), strict enough that a test
// fails on output a Prometheus server would refuse: what /metrics answers is read back by it.
// https://prometheus.io/docs/instrumenting/exposition_formats/

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
}

export interface Exposition {
  families: Map<string, Family>;
  samples: Sample[];
  /**
   * The value of the sample `name` whose labels include `labels`; several: their sum (e.g. a
   * counter over every outcome); none: 0, as Prometheus treats a counter not yet incremented.
   */
  value(name: string, labels?: Record<string, string>): number;
  /** The samples of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** The samples a family of each type may have, by suffix. */
const SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export class ExpositionError extends Error {}

/** A float as Prometheus reads it (Go's ParseFloat: NaN and Inf in any case, e.g. prom-client's `Nan`). */
function parseValue(text: string, line: number): number {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new ExpositionError(`line ${line}: bad value ${JSON.stringify(text)}`);
  return v;
}

/** `{a="1",b="x\"y"}` from position `i` of `s`: the labels and where they end. */
function parseLabels(s: string, i: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  const fail = (why: string) => {
    throw new ExpositionError(`line ${line}: ${why}: ${s}`);
  };
  i++; // past '{'
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] === '}') return { labels, end: i + 1 };
    const eq = s.indexOf('=', i);
    if (eq < 0) fail('label without "="');
    const name = s.slice(i, eq).trim();
    if (!LABEL.test(name)) fail(`bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(`label ${name} twice`);
    i = eq + 1;
    if (s[i] !== '"') fail('label value not quoted');
    let value = '';
    for (i++; ; i++) {
      if (i >= s.length) fail('unterminated label value');
      const c = s[i];
      if (c === '"') break;
      if (c === '\\') {
        const n = s[++i];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else fail(`bad escape \\${n}`);
      } else value += c;
    }
    labels[name] = value;
    i++;
    while (s[i] === ' ') i++;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') fail('expected "," or "}" after a label');
  }
}

/** Parses an exposition; throws ExpositionError naming the line on anything malformed. */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const family = (name: string) => families.get(name) ?? families.set(name, { name }).get(name)!;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const s = raw.trimEnd();
    if (s === '') return;
    if (s.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(s);
      if (!m) return; // a plain comment
      const [, what, name, rest = ''] = m;
      if (!NAME.test(name)) throw new ExpositionError(`line ${line}: bad metric name ${name}`);
      const f = family(name);
      if (what === 'HELP') {
        if (f.help !== undefined) throw new ExpositionError(`line ${line}: second HELP for ${name}`);
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      } else {
        if (!TYPES.has(rest)) throw new ExpositionError(`line ${line}: bad type ${rest} for ${name}`);
        if (f.type !== undefined) throw new ExpositionError(`line ${line}: second TYPE for ${name}`);
        if (samples.some((x) => x.name === name || x.name.startsWith(`${name}_`)))
          throw new ExpositionError(`line ${line}: TYPE of ${name} after its samples`);
        f.type = rest as Family['type'];
      }
      return;
    }
    const nameEnd = s.search(/[{ ]/);
    if (nameEnd <= 0) throw new ExpositionError(`line ${line}: not a sample: ${s}`);
    const name = s.slice(0, nameEnd);
    if (!NAME.test(name)) throw new ExpositionError(`line ${line}: bad metric name ${name}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (s[i] === '{') ({ labels, end: i } = parseLabels(s, i, line));
    const fields = s.slice(i).trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '')
      throw new ExpositionError(`line ${line}: expected a value (and a timestamp): ${s}`);
    samples.push({ name, labels, value: parseValue(fields[0], line) });
  });
  // Each sample belongs to a declared family: its own name, or a histogram's/summary's suffix.
  for (const x of samples) {
    const owner = [...families.values()].find(
      (f) => f.name === x.name || (SUFFIXES[f.type ?? ''] ?? []).some((suf) => `${f.name}${suf}` === x.name),
    );
    if (!owner) throw new ExpositionError(`sample ${x.name} has no # TYPE`);
    if (owner.type === 'histogram' && x.name === `${owner.name}_bucket` && x.labels.le === undefined)
      throw new ExpositionError(`bucket of ${owner.name} without le`);
  }
  const includes = (x: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => x.labels[k] === v);
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((x) => x.name === name && includes(x, labels));
  return {
    families,
    samples,
    find,
    value: (name, labels = {}) => find(name, labels).reduce((sum, x) => sum + x.value, 0),
  };
}

/** GETs `url` (a service's /metrics) and parses it; checks the content type on the way. */
export async function scrape(url: string): Promise<Exposition> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status}`);
  const type = r.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain; version=0.0.4'))
    throw new Error(`GET ${url}: content type ${type}, not Prometheus's text format`);
  return parseExposition(await r.text());
}
