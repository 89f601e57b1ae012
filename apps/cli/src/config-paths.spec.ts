import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli';

// bmctl's --config-file (repeatable) and --config-dir, read in command-line order as oslo.config
// reads them. Each file sets an invalid value: the one reported is the one that won.
describe('bmctl --config-file and --config-dir', () => {
  let dir: string;
  const paths: Record<'a' | 'b' | 'd' | 'dFile', string> = { a: '', b: '', d: '', dFile: '' };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bmctl-config-'));
    paths.a = join(dir, 'a.conf');
    paths.b = join(dir, 'b.conf');
    paths.d = join(dir, 'nova.conf.d');
    paths.dFile = join(paths.d, '50-d.conf');
    mkdirSync(paths.d);
    writeFileSync(paths.a, '[DEFAULT]\nperiodic_interval = from-a\n');
    writeFileSync(paths.b, '[DEFAULT]\n\nperiodic_interval = from-b\n');
    writeFileSync(paths.dFile, '[DEFAULT]\n\n\nperiodic_interval = from-d\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function winner(args: string[], env: Record<string, string> = {}): Promise<string> {
    const err: string[] = [];
    const io = { out: () => undefined, err: (s: string) => err.push(s) };
    const code = await runCli(args, { io, env, readText: () => Promise.resolve('') });
    expect(code).toBe(3);
    return err.join('\n');
  }

  it.each([
    [['--config-file', 'A', '--config-file', 'B'], 'b'],
    [['--config-file', 'B', '--config-file', 'A'], 'a'],
    [['--config-file', 'A', '--config-dir', 'D', '--config-file', 'B'], 'b'],
    [['--config-file', 'A', '--config-file', 'B', '--config-dir', 'D'], 'd'],
    [['--config-dir=D', '--config-file=A'], 'a'],
    // After the command's name, the options are the command's copies: the order still holds.
    [['--config-file', 'A', 'node', 'list', '--config-dir', 'D'], 'd'],
    [['--config-dir', 'D', 'node', 'list', '--config-file', 'A'], 'a'],
  ])('%j: the last one read wins (%s)', async (flags, last) => {
    const named = { A: paths.a, B: paths.b, D: paths.d } as Record<string, string>;
    const args = flags.map((f) =>
      f.replace(/^(--config-(?:file|dir)=)?([ABD])$/, (_m, eq = '', k: string) => eq + named[k]),
    );
    const where = { a: `${paths.a}:2`, b: `${paths.b}:3`, d: `${paths.dFile}:4` }[last]!;
    const err = await winner([...(args.includes('node') ? args : [...args, 'node', 'list'])]);
    expect(err).toContain(`${where}: [DEFAULT] periodic_interval: 'from-${last}' is not an integer`);
    expect(err.match(/periodic_interval/g)).toHaveLength(1);
  });

  it('reads BM_CONFIG_FILE and BM_CONFIG_DIR unless the command line names its own', async () => {
    const env = { BM_CONFIG_FILE: paths.a, BM_CONFIG_DIR: paths.d };
    expect(await winner(['node', 'list'], env)).toContain(`${paths.dFile}:4:`);
    expect(await winner(['--config-file', paths.b, 'node', 'list'], env)).toContain(`${paths.b}:3:`);
  });

  it('says which directory is missing', async () => {
    const err = await winner(['--config-dir', join(dir, 'nope'), 'node', 'list']);
    expect(err).toContain(`${join(dir, 'nope')}: config directory not found`);
  });
});
