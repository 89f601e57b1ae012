import { ManualClock } from '@bm/core';
import { UnenrolledLog } from './unenrolled-log';

const mac = (i: number) =>
  `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
/** Lets the ManualClock's woken sleeps run their callbacks. */
const settle = () => new Promise((r) => setImmediate(r));

describe('UnenrolledLog (rate limit of ignored-unenrolled lines)', () => {
  let clock: ManualClock;
  let summaries: string[];
  let log: UnenrolledLog;
  beforeEach(() => {
    clock = new ManualClock(1_000_000);
    summaries = [];
    log = new UnenrolledLog({ clock, onSummary: (l) => summaries.push(l), maxLines: 3 });
  });
  afterEach(() => log.flush());

  it("logs a MAC's first request, counts its repeats, and summarises them when the window ends", async () => {
    expect(log.admit(mac(1))).toBe(true);
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      expect(log.admit(mac(1))).toBe(false);
    }
    expect(summaries).toEqual([]);
    clock.advance(56_000); // 60 s after the first request
    await settle();
    expect(summaries).toEqual(['4 more requests from 1 unenrolled MAC in the last 60 s (not logged one by one)']);
    // A new window: the MAC gets a line again.
    expect(log.admit(mac(1))).toBe(true);
  });

  it('a flood: 10 000 requests from 1 000 MACs in a minute make 11 lines (defaults), not 10 000', async () => {
    log = new UnenrolledLog({ clock, onSummary: (l) => summaries.push(l) });
    let lines = 0;
    for (let i = 0; i < 10_000; i++) {
      if (log.admit(mac(i % 1000))) lines++;
      clock.advance(5); // 50 s in all
    }
    expect(lines).toBe(10);
    clock.advance(10_000);
    await settle();
    expect(summaries).toEqual([
      '9990 more requests from 1000 unenrolled MACs in the last 60 s (not logged one by one)',
    ]);
  });

  it('bounds the MACs it remembers; the count is then a lower bound', async () => {
    log = new UnenrolledLog({ clock, onSummary: (l) => summaries.push(l), maxLines: 1, maxTracked: 10 });
    for (let i = 0; i < 50; i++) log.admit(mac(i));
    log.flush();
    expect(summaries).toEqual(['49 more requests from 9+ unenrolled MACs in the last 60 s (not logged one by one)']);
  });

  it('no summary for a quiet window; flush() on shutdown emits what is pending', async () => {
    expect(log.admit(mac(1))).toBe(true);
    clock.advance(120_000);
    await settle();
    expect(summaries).toEqual([]);
    expect(log.admit(mac(2))).toBe(true);
    expect(log.admit(mac(2))).toBe(false);
    log.flush();
    expect(summaries).toEqual(['1 more request from 1 unenrolled MAC in the last 60 s (not logged one by one)']);
  });
});
