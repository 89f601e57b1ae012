import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pagePolicy } from '@bm/rack';

/**
 * The rack view's page (public/rack.html: one file, its script and style inline), read once at
 * start, with the Content-Security-Policy that allows exactly its own script and style. Built,
 * the file sits beside main.js (nest-cli.json `assets`); from the sources, beside this file.
 */
export class RackPage {
  private constructor(
    readonly html: string,
    readonly policy: string,
  ) {}

  static load(dir = __dirname): RackPage {
    const html = readFileSync(join(dir, 'public', 'rack.html'), 'utf8');
    return new RackPage(html, pagePolicy(html));
  }
}
