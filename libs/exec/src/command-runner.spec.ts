import { CommandFailed, CommandRunner } from './command-runner';

describe('CommandRunner', () => {
  const r = new CommandRunner();

  it('passes secrets through the environment, input through stdin, never a shell', async () => {
    const out = await r.check(
      '/bin/sh',
      ['-c', 'printf "%s|" "$SECRET"; cat; printf "|%s" "$1"', 'sh', '$SECRET;echo hi'],
      { env: { SECRET: 's3' }, input: 'from-stdin' },
    );
    expect(out.stdout).toBe('s3|from-stdin|$SECRET;echo hi');
  });

  it('a non-zero exit is a result for run() and a CommandFailed naming the program for check()', async () => {
    expect((await r.run('/bin/sh', ['-c', 'exit 3'])).code).toBe(3);
    const e = await r
      .check('/bin/sh', ['-c', 'echo nope >&2; exit 3'], { env: { SECRET: 'hidden-value' } })
      .catch((x) => x);
    expect(e).toBeInstanceOf(CommandFailed);
    expect(e.message).toBe('/bin/sh -c echo nope >&2; exit 3: nope');
    expect(JSON.stringify(e)).not.toContain('hidden-value');
  });

  it('kills a program that outlives its timeout', async () => {
    const t = Date.now();
    await expect(r.run('/bin/sleep', ['5'], { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('a missing program is a clear error', async () => {
    await expect(r.run('/no/such/program', [])).rejects.toThrow(/cannot run/);
  });

  it('start() runs a program until it is stopped, or until it exits by itself', async () => {
    const p = await r.start('/bin/sleep', ['30']);
    expect(p.isRunning()).toBe(true);
    await p.stop();
    expect(p.isRunning()).toBe(false);
    expect(await p.exited).toEqual({ code: null, signal: 'SIGTERM' });
    const q = await r.start('/bin/sh', ['-c', 'exit 4']);
    expect(await q.exited).toEqual({ code: 4, signal: null });
    expect(q.isRunning()).toBe(false);
    await q.stop();
    await expect(r.start('/no/such/program', [])).rejects.toThrow(/cannot run/);
  });
});
