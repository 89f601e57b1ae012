import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root, and bmctl as `npx bmctl` runs it (the workspace bin → dist/apps/cli/main.js). */
export const ROOT = resolve(__dirname, '../..');
export const BMCTL = join(ROOT, 'node_modules/.bin/bmctl');

export interface BmctlRun {
  code: number;
  out: string;
  err: string;
}

/** Fails early and clearly when the e2e tests run before `npm run build`. */
export function requireBuilt(app = 'cli'): void {
  if (!existsSync(join(ROOT, 'dist/apps', app, 'main.js'))) {
    throw new Error(`dist/apps/${app}/main.js is missing: run \`npm run build\` before the e2e tests (npm test does)`);
  }
}

/** Runs bmctl with only PATH (and TZ) from this environment plus `env`; stdin gets `stdin`. */
export function bmctl(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<BmctlRun> {
  return new Promise((done, fail) => {
    const child = spawn(BMCTL, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH!, TZ: process.env.TZ ?? 'UTC', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, out, err }));
    child.stdin.end(stdin ?? '');
  });
}
