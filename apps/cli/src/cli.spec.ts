import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { LATEST_VERSION } from '@bm/db';
import { runCli } from './cli';
import type { Column } from './output';
import { CliSession, addGlobalOptions } from './session';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    env: {
      io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) },
      env: {},
      readText: () => Promise.resolve(''),
    },
  };
}

describe('bmctl options', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'bmctl-cli-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--version prints the version and the nova_bm schema version it expects', async () => {
    for (const flag of ['--version', '-V']) {
      const c = capture();
      expect(await runCli([flag], c.env)).toBe(0);
      expect(c.out).toEqual([`bmctl 0.1.0 (nova_bm schema version ${LATEST_VERSION})`]);
    }
  });

  it("a command's own --version stays its own (db sync --version N)", async () => {
    const c = capture();
    expect(await runCli(['db', 'sync', '--version', 'x'], c.env)).toBe(64);
    expect(c.err.join('\n')).toContain("option '--version <n>' argument 'x' is invalid");
  });

  it('the global options work before and after the command; -f yaml, --json = -f json', async () => {
    for (const [i, args] of [
      ['-f', 'yaml', 'db', 'gen-key'],
      ['db', 'gen-key', '-f', 'yaml'],
      ['db', 'gen-key', '--format=yaml'],
    ].entries()) {
      const c = capture();
      const file = join(dir, `key-${i}`);
      expect(await runCli([...args, file], c.env)).toBe(0);
      expect(parseYaml(c.out.join('\n'))).toEqual({ file, created: true });
    }
    const c = capture();
    expect(await runCli(['db', 'gen-key', '--json', join(dir, 'key-json')], c.env)).toBe(0);
    expect(JSON.parse(c.out.join('\n'))).toEqual({ file: join(dir, 'key-json'), created: true });
  });

  it('an unknown format, or --json with another -f, is a usage error', async () => {
    const bad = capture();
    expect(await runCli(['db', 'gen-key', join(dir, 'k1'), '-f', 'xml'], bad.env)).toBe(64);
    expect(bad.err.join('\n')).toContain('Allowed choices are table, json, yaml, csv, value');
    const both = capture();
    expect(await runCli(['db', 'gen-key', join(dir, 'k2'), '--json', '-f', 'csv'], both.env)).toBe(64);
    expect(both.err).toEqual(['bmctl: --json and -f csv: choose one']);
  });
});

describe('CliSession.printList / printRecord', () => {
  const columns: Column<{ a: number; b: string }>[] = [
    { header: 'A', value: (r) => r.a },
    { header: 'B', value: (r) => r.b, long: true },
  ];

  /** A two-level command tree as bmctl builds it; runs `argv` and returns what `leaf` printed. */
  async function run(argv: string[], print: (s: CliSession) => void): Promise<string> {
    const c = capture();
    const session = new CliSession(c.env);
    const program = new Command('bmctl').enablePositionalOptions().exitOverride();
    program
      .command('thing')
      .command('list')
      .option('--own <x>', 'an option of its own')
      .action((_o: unknown, cmd: Command) => print(session.for(cmd)));
    addGlobalOptions(program);
    await program.parseAsync(argv, { from: 'user' });
    return c.out.join('\n');
  }

  it('honours -f, -c (given before and after the command, in order) and --long', async () => {
    const rows = [{ a: 1, b: 'x' }];
    const list = (s: CliSession) => s.printList(rows, columns);
    expect(JSON.parse(await run(['-f', 'json', 'thing', 'list'], list))).toEqual([{ A: 1 }]);
    expect(JSON.parse(await run(['thing', 'list', '--long', '--json'], list))).toEqual([{ A: 1, B: 'x' }]);
    expect(await run(['-c', 'B', 'thing', 'list', '-f', 'value', '-c', 'A'], list)).toBe('x 1');
    const record = (s: CliSession) => s.printRecord({ a: 1, b: ['x', 'y'] });
    expect(await run(['thing', 'list', '-f', 'csv', '-c', 'b'], record)).toBe('b\n"x,y"');
  });
});
