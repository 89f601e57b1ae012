import { strftimeProblem } from '@bm/core';
import { InvalidValue, type ValueType, show } from './value-types';

/**
 * syslog facilities and their codes (RFC 5424 §6.2.1), under the names oslo.log accepts for
 * `syslog_log_facility`: Python's `syslog.LOG_*`.
 */
export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = Object.freeze({
  LOG_KERN: 0,
  LOG_USER: 1,
  LOG_MAIL: 2,
  LOG_DAEMON: 3,
  LOG_AUTH: 4,
  LOG_SYSLOG: 5,
  LOG_LPR: 6,
  LOG_NEWS: 7,
  LOG_UUCP: 8,
  LOG_CRON: 9,
  LOG_AUTHPRIV: 10,
  LOG_FTP: 11,
  LOG_LOCAL0: 16,
  LOG_LOCAL1: 17,
  LOG_LOCAL2: 18,
  LOG_LOCAL3: 19,
  LOG_LOCAL4: 20,
  LOG_LOCAL5: 21,
  LOG_LOCAL6: 22,
  LOG_LOCAL7: 23,
});

/** As oslo.log's `_find_facility`: any case, `LOG_` optional (`local0` is `LOG_LOCAL0`). */
export const syslogFacility: ValueType<string> = {
  description: 'syslog facility (LOG_USER, LOG_DAEMON, LOG_LOCAL0..7, …)',
  parse(raw) {
    const upper = raw.trim().toUpperCase();
    const name = upper.startsWith('LOG_') ? upper : `LOG_${upper}`;
    if (!Object.hasOwn(SYSLOG_FACILITIES, name))
      throw new InvalidValue(
        `${show(raw)} is not a syslog facility: use one of ${Object.keys(SYSLOG_FACILITIES).join(', ')}`,
      );
    return name;
  },
};

/** A strftime format for log timestamps (oslo's `log_date_format`), the directives we write. */
export const logDateFormat: ValueType<string> = {
  description: 'strftime format',
  parse(raw) {
    if (raw === '') throw new InvalidValue('must not be empty');
    const problem = strftimeProblem(raw);
    if (problem !== undefined) throw new InvalidValue(`${show(raw)}: ${problem}`);
    return raw;
  },
};

/** A file path, relative or absolute, or '' for none: no NUL, no line breaks. */
export const optionalPath: ValueType<string> = {
  description: 'path or empty',
  parse(raw) {
    // eslint-disable-next-line no-control-regex -- a path with these is a mistake (or an attack)
    if (/[\u0000\n\r]/.test(raw)) throw new InvalidValue(`${show(raw)} contains a NUL or a line break`);
    return raw;
  },
};
