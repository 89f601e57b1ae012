import { ManualClock } from '@bm/core';
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

  describe('on a ManualClock (its time, not the wall clock, decides)', () => {
    it('kills a program when its timeout has passed on the clock, and reports the clock time it took', async () => {
      const clock = new ManualClock(10_000);
      const running = new CommandRunner({ clock }).run('/bin/sleep', ['30'], { timeoutMs: 1000 });
      const outcome = running.then(
        () => 'exited',
        (e: CommandFailed) => e,
      );
      clock.advance(999);
      await new Promise((r) => setTimeout(r, 50));
      expect(clock.pending).toBe(1); // 1 ms short: still running
      clock.advance(1);
      const e = await outcome;
      expect(e).toBeInstanceOf(CommandFailed);
      expect((e as CommandFailed).message).toBe('/bin/sleep 30: timed out after 1000 ms');
      expect((e as CommandFailed).result).toMatchObject({ signal: 'SIGKILL', durationMs: 1000 });
    });

    it('a program that ignores SIGTERM is killed once the grace period has passed on the clock', async () => {
      const clock = new ManualClock();
      const p = await new CommandRunner({ clock }).start('/bin/sh', ['-c', 'trap "" TERM; exec sleep 30']);
      await new Promise((r) => setTimeout(r, 100)); // the trap is set
      let stopped = false;
      const stopping = p.stop(3000).then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 100));
      expect([stopped, p.isRunning()]).toEqual([false, true]); // SIGTERM ignored, grace not over
      clock.advance(3000);
      await new Promise((r) => setTimeout(r, 200)); // far less than the 3 s of a real grace period
      expect(stopped).toBe(true);
      await stopping;
      expect(await p.exited).toEqual({ code: null, signal: 'SIGKILL' });
    });
  });
});
