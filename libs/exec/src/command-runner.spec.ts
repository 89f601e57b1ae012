import { ManualClock } from '@bm/core';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoundedOutput, CommandFailed, CommandRunner, childEnv } from './command-runner';

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

  describe("a program gets PATH, locale and home, and its call's variables: not the service's", () => {
    const saved = { ...process.env };
    beforeEach(() => {
      process.env.DATABASE_URL = 'postgresql://nova:db-secret@db/nova_bm';
      process.env.TRANSPORT_URL = 'rabbit://nova:mq-secret@mq/';
      process.env.LANG = 'C.UTF-8';
    });
    afterEach(() => {
      for (const k of ['DATABASE_URL', 'TRANSPORT_URL', 'LANG']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });

    it('run()', async () => {
      const env = (await r.check('/usr/bin/env', [], { env: { IPMI_PASSWORD: '' } })).stdout;
      expect(env).not.toMatch(/secret|DATABASE_URL|TRANSPORT_URL/);
      expect(env).toContain(`PATH=${process.env.PATH}\n`);
      expect(env).toContain('LANG=C.UTF-8\n');
      expect(env).toMatch(/^IPMI_PASSWORD=$/m); // an empty variable is passed as empty
    });

    it('start()', async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'runner-')), 'env');
      const p = await r.start('/bin/sh', ['-c', 'env > "$OUT"'], { env: { OUT: file } });
      await p.exited;
      const env = readFileSync(file, 'utf8');
      expect(env).not.toMatch(/secret/);
      expect(env).toContain(`OUT=${file}`);
    });

    it('childEnv: the inherited names that are set, then the extras', () => {
      expect(childEnv({ PATH: '/bin', HOME: '/root', DATABASE_URL: 'x', AMQP: 'y' }, { A: '1', PATH: '/opt' })).toEqual(
        {
          PATH: '/opt',
          HOME: '/root',
          A: '1',
        },
      );
    });
  });

  describe('captured output is bounded: the first and the last part', () => {
    it('of a program that prints 5 MB', async () => {
      const res = await r.run('/bin/sh', ['-c', 'echo FIRST; yes | head -c 5000000; echo; echo LAST'], {
        maxOutputBytes: 4096,
      });
      expect(res.code).toBe(0);
      expect(res.stdout.length).toBeLessThan(4200);
      expect(res.stdout.startsWith('FIRST\ny\n')).toBe(true);
      expect(res.stdout.endsWith('LAST\n')).toBe(true);
      expect(res.stdout).toContain('\n[… 4995916 bytes left out …]\n'); // 5000012 printed, 4096 kept
    });

    it('BoundedOutput keeps everything up to the bound and cuts chunks at any place', () => {
      const b = new BoundedOutput(10);
      b.push(Buffer.from('0123456789'));
      expect(b.toString()).toBe('0123456789');
      b.push(Buffer.from('ab'));
      b.push(Buffer.from('cdefg'));
      expect(b.toString()).toBe('01234\n[… 7 bytes left out …]\ncdefg');
    });
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
