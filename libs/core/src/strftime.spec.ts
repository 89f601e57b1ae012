import { strftime, strftimeProblem } from './strftime';

describe('strftime (log_date_format)', () => {
  // Wednesday 5 March 2025, 14:07:09.042 UTC: every field distinct, day 64 of the year.
  const t = new Date(Date.UTC(2025, 2, 5, 14, 7, 9, 42));

  it.each([
    ['%Y-%m-%d %H:%M:%S', '2025-03-05 14:07:09'], // oslo's default
    ['%y %e %I%p %j', '25  5 02PM 064'],
    ['%a %A %b %B', 'Wed Wednesday Mar March'],
    ['%F %T.%f', '2025-03-05 14:07:09.042000'],
    ['%z %Z 100%%', '+0000 UTC 100%'],
    ['no directive', 'no directive'],
  ])('%s → %s (UTC)', (format, expected) => {
    expect(strftimeProblem(format)).toBeUndefined();
    expect(strftime(t, format, { utc: true })).toBe(expected);
  });

  it('writes local time by default, as Python logging does', () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    const local = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
    expect(strftime(t, '%Y-%m-%d %H:%M')).toBe(local);
    const offset = -t.getTimezoneOffset();
    const sign = offset < 0 ? '-' : '+';
    expect(strftime(t, '%z')).toBe(`${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`);
  });

  it('midnight and noon on the 12-hour clock', () => {
    expect(strftime(new Date(Date.UTC(2025, 0, 1, 0, 0)), '%I %p', { utc: true })).toBe('12 AM');
    expect(strftime(new Date(Date.UTC(2025, 0, 1, 12, 0)), '%I %p', { utc: true })).toBe('12 PM');
  });

  it.each([
    ['%Y-%Q', '%Q is not supported'],
    ['%H:%M %', 'ends with a lone %'],
    ['%H\n%M', 'must not contain control characters'],
    ['\u001b[31m%H', 'must not contain control characters'],
  ])('refuses %j: %s', (format, why) => {
    expect(strftimeProblem(format)).toContain(why);
  });
});
