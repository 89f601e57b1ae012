import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderOptionsMarkdown, renderSampleConfig } from '@bm/config';
import { CATALOG, renderCallTable } from '@bm/contracts';
import { renderStateDiagram } from '@bm/domain';

// Generated documentation is kept true here; `npm run docs` rewrites it.
const DOCS = join(__dirname, '../docs');
const update = !!process.env.UPDATE_DOCS;

it('docs/configuration.md matches the option schema', () => {
  const file = join(DOCS, 'configuration.md');
  const want = renderOptionsMarkdown();
  if (update) writeFileSync(file, want);
  expect(readFileSync(file, 'utf8')).toBe(want);
});

it('deploy/nova.conf.sample matches the option schema', () => {
  const file = join(__dirname, '../deploy/nova.conf.sample');
  const want = renderSampleConfig();
  if (update) writeFileSync(file, want);
  expect(readFileSync(file, 'utf8')).toBe(want);
});

/** The text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` set to `body`. */
function withSection(text: string, name: string, body: string): string {
  const re = new RegExp(`(<!-- generated:${name} -->)\\n[\\s\\S]*?(<!-- /generated:${name} -->)`);
  if (!re.test(text)) throw new Error(`docs/architecture.md has no generated:${name} section`);
  return text.replace(re, (_m, open: string, close: string) => `${open}\n${body}\n${close}`);
}

it("docs/architecture.md's call table and state machine match libs/contracts and libs/domain", () => {
  const file = join(DOCS, 'architecture.md');
  const text = readFileSync(file, 'utf8');
  let want = withSection(text, 'calls', renderCallTable());
  want = withSection(want, 'states', ['```mermaid', renderStateDiagram(), '```'].join('\n'));
  if (update) writeFileSync(file, want);
  expect(text).toBe(want);
});

/** Every .ts file below `dir`, as one string. */
function sourceOf(dir: string): string {
  return readdirSync(dir)
    .map((n) => join(dir, n))
    .map((p) => (statSync(p).isDirectory() ? sourceOf(p) : p.endsWith('.ts') ? readFileSync(p, 'utf8') : ''))
    .join('\n');
}

it('each app the call table names as a caller uses the client it names', () => {
  for (const e of CATALOG)
    for (const c of e.callers.filter((x) => x.app))
      expect({ app: c.app, uses: sourceOf(join(__dirname, '../apps', c.app!, 'src')).includes(c.client!) }).toEqual({
        app: c.app,
        uses: true,
      });
});
