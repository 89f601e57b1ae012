/**
 * Time as one seam: deadlines, sweeps, timestamps and waits ask a Clock, so that logic built on
 * them is tested without real waiting. Production code uses `systemClock`; tests use ManualClock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * setTimeout on a Clock: calls `fn` after `ms` of the clock's time unless the returned function
 * cancels it first. On the system clock it is a real timer, cleared when cancelled (so none
 * outlives what it was for, as Clock.sleep's would); on another clock (a ManualClock in tests)
 * it is that clock's sleep.
 */
export function setClockTimeout(clock: Clock, ms: number, fn: () => void): () => void {
  if (clock === systemClock) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  }
  let cancelled = false;
  void clock.sleep(ms).then(() => cancelled || fn());
  return () => void (cancelled = true);
}

/** The clock's time as a Date. */
export function dateOf(clock: Clock): Date {
  return new Date(clock.now());
}

/** A clock that moves only when told (`advance`), waking the sleeps whose time has come. */
export class ManualClock implements Clock {
  private sleepers: { at: number; wake: () => void }[] = [];

  constructor(private time = 0) {}

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.sleepers.push({ at: this.time + Math.max(0, ms), wake }));
  }

  /** Moves the time on by `ms` and wakes every sleep due by then (in order of their due time). */
  advance(ms: number): void {
    this.time += ms;
    const due = this.sleepers.filter((s) => s.at <= this.time).sort((a, b) => a.at - b.at);
    this.sleepers = this.sleepers.filter((s) => s.at > this.time);
    for (const s of due) s.wake();
  }

  /** Sleeps not yet woken. */
  get pending(): number {
    return this.sleepers.length;
  }
}
