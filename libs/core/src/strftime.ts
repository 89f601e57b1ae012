/**
 * The part of C's strftime that log date formats use (oslo.log's `log_date_format`, Python's
 * `time.strftime`): one place knows the directives, so the configuration refuses the others
 * and the logger formats with the same table.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** The fields of one instant, in local time or UTC. */
interface Parts {
  year: number;
  month: number; // 0-11
  day: number;
  weekday: number; // 0 = Sunday
  hours: number;
  minutes: number;
  seconds: number;
  ms: number;
  /** Minutes east of UTC. */
  offset: number;
  date: Date;
  utc: boolean;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function dayOfYear(p: Parts): number {
  return Math.floor((Date.UTC(p.year, p.month, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000) + 1;
}

function zoneName(p: Parts): string {
  if (p.utc) return 'UTC';
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(p.date)
    .find((x) => x.type === 'timeZoneName');
  return part?.value ?? '';
}

/** Each directive (the letter after `%`) and what it writes. */
export const STRFTIME_DIRECTIVES: Readonly<Record<string, (p: Parts) => string>> = {
  Y: (p) => String(p.year),
  y: (p) => pad(p.year % 100),
  m: (p) => pad(p.month + 1),
  d: (p) => pad(p.day),
  e: (p) => String(p.day).padStart(2, ' '),
  H: (p) => pad(p.hours),
  I: (p) => pad(p.hours % 12 || 12),
  M: (p) => pad(p.minutes),
  S: (p) => pad(p.seconds),
  /** Microseconds, as Python's (the clock has milliseconds: the last three digits are 0). */
  f: (p) => pad(p.ms * 1000, 6),
  p: (p) => (p.hours < 12 ? 'AM' : 'PM'),
  j: (p) => pad(dayOfYear(p), 3),
  a: (p) => DAYS[p.weekday].slice(0, 3),
  A: (p) => DAYS[p.weekday],
  b: (p) => MONTHS[p.month].slice(0, 3),
  B: (p) => MONTHS[p.month],
  z: (p) => `${p.offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(p.offset) / 60))}${pad(Math.abs(p.offset) % 60)}`,
  Z: zoneName,
  F: (p) => `${p.year}-${pad(p.month + 1)}-${pad(p.day)}`,
  T: (p) => `${pad(p.hours)}:${pad(p.minutes)}:${pad(p.seconds)}`,
  '%': () => '%',
};

/** Why `format` cannot be used, or undefined when it can. */
export function strftimeProblem(format: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- a date format is one piece of one log line
  if (/[\u0000-\u001f\u007f]/.test(format)) return 'must not contain control characters';
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') continue;
    const directive = format[i + 1];
    if (directive === undefined) return 'ends with a lone %';
    if (!Object.hasOwn(STRFTIME_DIRECTIVES, directive))
      return `%${directive} is not supported (supported: ${Object.keys(STRFTIME_DIRECTIVES)
        .map((d) => `%${d}`)
        .join(' ')})`;
    i++;
  }
  return undefined;
}

/**
 * `date` written by `format` (check it first with strftimeProblem: an unknown directive is
 * written as it is), in local time as Python's logging does, or in UTC.
 */
export function strftime(date: Date, format: string, o: { utc?: boolean } = {}): string {
  const utc = o.utc === true;
  const p: Parts = utc
    ? {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth(),
        day: date.getUTCDate(),
        weekday: date.getUTCDay(),
        hours: date.getUTCHours(),
        minutes: date.getUTCMinutes(),
        seconds: date.getUTCSeconds(),
        ms: date.getUTCMilliseconds(),
        offset: 0,
        date,
        utc,
      }
    : {
        year: date.getFullYear(),
        month: date.getMonth(),
        day: date.getDate(),
        weekday: date.getDay(),
        hours: date.getHours(),
        minutes: date.getMinutes(),
        seconds: date.getSeconds(),
        ms: date.getMilliseconds(),
        offset: -date.getTimezoneOffset(),
        date,
        utc,
      };
  return format.replace(/%(.)/g, (whole, d: string) =>
    Object.hasOwn(STRFTIME_DIRECTIVES, d) ? STRFTIME_DIRECTIVES[d](p) : whole,
  );
}
