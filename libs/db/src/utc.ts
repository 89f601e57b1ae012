import { defaults, types } from 'pg';

/**
 * nova_bm keeps naive UTC timestamps (`timestamp without time zone`, as Nova's DATETIME).
 * node-postgres would write and read them in the process's local time zone; make it UTC both
 * ways so a service running with TZ=Europe/Paris stores the same instants as one in UTC.
 */
const TIMESTAMP_WITHOUT_TZ = 1114;
defaults.parseInputDatesAsUTC = true;
types.setTypeParser(TIMESTAMP_WITHOUT_TZ, (text: string) => new Date(text.replace(' ', 'T') + 'Z'));
