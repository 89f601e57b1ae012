import { ManualClock } from '@bm/core';
import { Progress } from './progress';

function io(tty: boolean) {
  const err: string[] = [];
  return { err, io: { out: () => undefined, err: (s: string) => err.push(s), errIsTty: tty } };
}

describe('Progress', () => {
  it('not on a terminal: a plain line at each change, with the seconds since it began; no escapes', () => {
    const clock = new ManualClock(1_000_000);
    const t = io(false);
    const p = new Progress(t.io, clock);
    p.update('requested');
    clock.advance(1500);
    p.tick(); // nothing: ticking is for terminals
    p.update('requested'); // nothing new
    p.update('building');
    clock.advance(123_400);
    p.stop('active');
    expect(t.err).toEqual(['[   0.0 s] requested', '[   1.5 s] building', '[ 124.9 s] active']);
  });

  it('on a terminal: one line, redrawn in place at each change and each tick', () => {
    const clock = new ManualClock();
    const t = io(true);
    const p = new Progress(t.io, clock);
    p.tick(); // nothing to draw yet
    p.update('uploading: 10%');
    clock.advance(1000);
    p.tick();
    p.update('uploading: 20%');
    expect(t.err).toEqual([
      '[   0.0 s] uploading: 10%',
      '\x1b[1F\x1b[2K[   1.0 s] uploading: 10%',
      '\x1b[1F\x1b[2K[   1.0 s] uploading: 20%',
    ]);
  });

  it('during(): ticks on a terminal while the work runs, and stops after', async () => {
    jest.useFakeTimers();
    try {
      const clock = new ManualClock();
      const t = io(true);
      const p = new Progress(t.io, clock);
      p.update('deleting');
      let finish!: (v: string) => void;
      const work = p.during(new Promise<string>((r) => (finish = r)));
      clock.advance(2000);
      jest.advanceTimersByTime(2000);
      expect(t.err.at(-1)).toBe('\x1b[1F\x1b[2K[   2.0 s] deleting');
      finish('done');
      await expect(work).resolves.toBe('done');
      const drawn = t.err.length;
      jest.advanceTimersByTime(5000);
      expect(t.err).toHaveLength(drawn);
    } finally {
      jest.useRealTimers();
    }
  });
});
