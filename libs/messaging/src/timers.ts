/**
 * The longest delay a Node timer holds: 2^31-1 ms (about 24.8 days). A longer one is not refused:
 * Node warns and fires it after 1 ms, so a huge timeout became an instant one and a huge
 * interval a busy loop.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `ms` made safe for setTimeout/setInterval: at most MAX_TIMER_MS, at least `min` (NaN and
 * negative values count as `min`). For delays that come from outside the configuration (an RPC's
 * `_timeout`, a command's `--timeout`), which the option types cannot bound.
 */
export function timerMs(ms: number, min = 0): number {
  if (!(ms >= min)) return min;
  return Math.min(ms, MAX_TIMER_MS);
}
