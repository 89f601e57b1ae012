import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { COMPUTE, COMPUTE_BAREMETAL, COMPUTE_SERVER, NETBOOT, POWER, SCHEDULER, patternOf } from '.';

const ROOT = join(__dirname, '../../..');
const SURFACES = [COMPUTE, COMPUTE_BAREMETAL, SCHEDULER, POWER, NETBOOT];

/** Production sources of apps/ and of every lib but this one. */
function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.spec.ts') && !p.includes('/test-fixtures/')) out.push(p);
    }
  };
  for (const top of ['apps', 'libs']) {
    for (const name of readdirSync(join(ROOT, top))) {
      if (top === 'libs' && name === 'contracts') continue;
      const src = join(ROOT, top, name, 'src');
      if (statSync(src, { throwIfNoEntry: false })?.isDirectory()) walk(src);
    }
  }
  return out;
}

/** The code of a file without its comments (a comment may name a method). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');

/** The text of a call's argument list: from the `(` at `open` to its matching `)`. */
function argumentsAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open, i + 1);
  }
  return text.slice(open);
}

/**
 * The RPC literals a file holds: a topic of ours spelled out (the ones that are not also plain
 * words: `baremetal-power`, …), a literal under a `topic:`, `method:`, `version:` or `namespace:`
 * key, in `@MessagePattern(…)`, or naming one of our topics or methods in the arguments of a
 * `.call(`, `.cast(` or `.fanoutCast(`. libs/messaging, the transport, may spell oslo's own
 * protocol (its ping endpoint), never one of ours.
 */
function rpcLiterals(file: string, text: string): string[] {
  const body = code(text);
  const names = new Set<string>(SURFACES.flatMap((s) => [s.topic, ...Object.values(s.methods)]));
  const found: string[] = [];
  for (const m of body.matchAll(/'([^'\n]*)'/g)) if (m[1].includes('-') && names.has(m[1])) found.push(m[0]);
  for (const m of body.matchAll(/\.(?:call|cast|fanoutCast)(?:<[^>(]*>)?\(/g)) {
    const args = argumentsAt(body, m.index + m[0].length - 1);
    for (const lit of args.matchAll(/'([^'\n]*)'/g)) if (names.has(lit[1]) && !lit[1].includes('-')) found.push(lit[0]);
  }
  for (const m of body.matchAll(/@MessagePattern\(\s*'[^']*'/g)) found.push(m[0]);
  if (!relative(ROOT, file).startsWith('libs/messaging/')) {
    for (const m of body.matchAll(/\b(topic|method|version|namespace)\s*:\s*'[^']*'/g)) found.push(m[0]);
  }
  return found;
}

describe('libs/contracts', () => {
  it('no topic, method or version literal outside libs/contracts', () => {
    const offenders = sources()
      .map((f) => ({ f: relative(ROOT, f), lits: rpcLiterals(f, readFileSync(f, 'utf8')) }))
      .filter((o) => o.lits.length)
      .map((o) => `${o.f}: ${o.lits.join(', ')}`);
    expect(offenders).toEqual([]);
  });

  it('the check itself finds a literal (it can fail)', () => {
    expect(
      rpcLiterals('apps/x/src/a.ts', `rpc.call({ topic: 'baremetal-power' }, 'power_on', {}, { version: '1.0' })`),
    ).toEqual(["'baremetal-power'", "'power_on'", "topic: 'baremetal-power'", "version: '1.0'"]);
    expect(rpcLiterals('apps/x/src/a.ts', `// calls 'power_on'\n/* 'compute' */ const x = 1;`)).toEqual([]);
  });

  it('method names are unique within a surface and patterns carry the namespace', () => {
    for (const s of SURFACES) {
      const names = Object.values(s.methods);
      expect(new Set(names).size).toBe(names.length);
    }
    expect(patternOf(POWER, 'powerOn')).toBe('power_on');
    expect(patternOf(COMPUTE_BAREMETAL, 'deployStateChanged')).toEqual({
      method: 'deploy_state_changed',
      namespace: 'baremetal',
    });
  });

  it("compute serves Nova's 6.4 and 2.27 and our baremetal 1.0; callers send versions a server accepts", () => {
    expect(COMPUTE_SERVER.endpoints).toEqual([
      { version: '6.4' },
      { version: '2.27' },
      { version: '1.0', namespace: 'baremetal' },
    ]);
    const [major] = COMPUTE.version.split('.');
    expect(COMPUTE_SERVER.endpoints.some((e) => !e.namespace && e.version.split('.')[0] === major)).toBe(true);
  });
});
