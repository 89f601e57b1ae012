/**
 * Rate limit for the log of requests from MACs we do not serve (`ignored-unenrolled`). Every
 * DHCP client on the segment broadcasts, and a flood of them (or of forged MACs) must not become
 * one log line each: writing them fell behind the socket, which then dropped requests.
 *
 * Per window (60 s by default): the first request of a MAC gets its own line, up to `maxLines`
 * MACs; every other request is counted, and once the window ends one summary line says how many
 * requests from how many MACs were not logged.
 */
import { type Clock, setClockTimeout } from '@bm/core';

export interface UnenrolledLogOptions {
  clock: Clock;
  /** The summary line, at the end of a window in which requests were not logged. */
  onSummary(line: string): void;
  /** Default 60 000 ms. */
  windowMs?: number;
  /** MACs logged one by one per window (default 10). */
  maxLines?: number;
  /** MACs remembered per window (default 10 000): the memory bound under a flood of forged MACs. */
  maxTracked?: number;
}

export class UnenrolledLog {
  private readonly windowMs: number;
  private readonly maxLines: number;
  private readonly maxTracked: number;
  private windowStart?: number;
  /** The MACs of this window: logged one by one, or counted in the summary. */
  private readonly seen = new Map<string, 'logged' | 'counted'>();
  private lines = 0;
  private suppressed = 0;
  private suppressedMacs = 0;
  /** More MACs than maxTracked: the summary's MAC count is a lower bound. */
  private overflow = false;
  private cancelSummary?: () => void;

  constructor(private readonly o: UnenrolledLogOptions) {
    this.windowMs = o.windowMs ?? 60_000;
    this.maxLines = o.maxLines ?? 10;
    this.maxTracked = o.maxTracked ?? 10_000;
  }

  /** Whether this request from `mac` gets its own log line; if not, it is counted for the summary. */
  admit(mac: string): boolean {
    const now = this.o.clock.now();
    if (this.windowStart === undefined || now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
    }
    const state = this.seen.get(mac);
    if (state === undefined && this.lines < this.maxLines) {
      this.seen.set(mac, 'logged');
      this.lines++;
      return true;
    }
    this.suppressed++;
    if (state === 'logged' || (state === undefined && this.seen.size < this.maxTracked)) {
      this.seen.set(mac, 'counted');
      this.suppressedMacs++;
    } else if (state === undefined) this.overflow = true;
    this.cancelSummary ??= setClockTimeout(this.o.clock, this.windowStart + this.windowMs - now, () => this.flush());
    return false;
  }

  /** Emits the pending summary, if any, and starts a new window (also for shutdown). */
  flush(): void {
    this.cancelSummary?.();
    this.cancelSummary = undefined;
    if (this.suppressed > 0) {
      const macs = `${this.suppressedMacs}${this.overflow ? '+' : ''} unenrolled MAC${this.suppressedMacs === 1 ? '' : 's'}`;
      this.o.onSummary(
        `${this.suppressed} more request${this.suppressed === 1 ? '' : 's'} from ${macs} in the last ${Math.round(this.windowMs / 1000)} s (not logged one by one)`,
      );
    }
    this.windowStart = undefined;
    this.seen.clear();
    this.lines = this.suppressed = this.suppressedMacs = 0;
    this.overflow = false;
  }
}
