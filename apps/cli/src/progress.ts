import type { Clock } from '@bm/core';
import type { Io } from './output';

/** Erases the line above the cursor and writes there (`io.err` ends every write with a newline). */
const REDRAW = '\x1b[1F\x1b[2K';

/**
 * Progress of a long operation (boot, delete, rebuild, image upload) on stderr, with the time
 * since it began. On a terminal it is one line, redrawn in place at each change and each `tick`;
 * otherwise (a log, a pipe, CI) a plain line at each change, so a transcript reads as a history:
 *
 *   [   2.4 s] instance 1b2c… (vm1): node 6f1c… on cn1: prepared
 */
export class Progress {
  private readonly started: number;
  private text?: string;
  private drawn = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: Io,
    private readonly clock: Clock,
  ) {
    this.started = clock.now();
  }

  /** Seconds since it began. */
  get elapsedS(): number {
    return (this.clock.now() - this.started) / 1000;
  }

  /** Where it is now: drawn on a terminal; elsewhere a line, when it says something new. */
  update(text: string): void {
    if (text === this.text && !this.io.errIsTty) return;
    this.text = text;
    this.draw();
  }

  /** On a terminal, the line redrawn with the time now; nothing elsewhere. */
  tick(): void {
    if (this.io.errIsTty && this.text !== undefined) this.draw();
  }

  /** On a terminal, ticks every second until `stop` (the timer does not keep the process alive). */
  start(): this {
    if (this.io.errIsTty && !this.timer) {
      this.timer = setInterval(() => this.tick(), 1000);
      this.timer.unref();
    }
    return this;
  }

  /** The last word (shown as `update` does), and no more ticking. */
  stop(text?: string): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (text !== undefined) this.update(text);
  }

  /** Runs `work` with the line ticking meanwhile. */
  async during<T>(work: Promise<T>): Promise<T> {
    this.start();
    try {
      return await work;
    } finally {
      this.stop();
    }
  }

  private draw(): void {
    const line = `[${this.elapsedS.toFixed(1).padStart(6)} s] ${this.text}`;
    this.io.err(this.io.errIsTty && this.drawn ? REDRAW + line : line);
    this.drawn = true;
  }
}
