import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderOptionsMarkdown } from '@bm/config';

// docs/configuration.md is generated from the option schema; `npm run docs` rewrites it.
const FILE = join(__dirname, '../docs/configuration.md');

it('docs/configuration.md matches the option schema', () => {
  const want = renderOptionsMarkdown();
  if (process.env.UPDATE_DOCS) writeFileSync(FILE, want);
  expect(readFileSync(FILE, 'utf8')).toBe(want);
});
