import { isIPv4 } from 'node:net';
import { posix } from 'node:path';
import { redactUrl } from './redact';
import { namedError } from '@bm/core';

/** Thrown by a value type when a raw string is unacceptable; the message says why. */
export class InvalidValue extends namedError('InvalidValue', 'invalid') {}

export type Warn = (message: string) => void;

/** Turns the raw text of an option (from a file or the environment) into a typed value. */
export interface ValueType<T> {
  /** Short description for the option table, e.g. `integer >= 0`. */
  readonly description: string;
  parse(raw: string, warn: Warn): T;
}

/** Quotes a user-supplied value for a message; URL passwords never get echoed. */
export function show(raw: string): string {
  return `'${redactUrl(raw)}'`;
}

export const string: ValueType<string> = { description: 'string', parse: (raw) => raw };

export const nonEmptyString: ValueType<string> = {
  description: 'non-empty string',
  parse(raw) {
    if (raw === '') throw new InvalidValue('must not be empty');
    return raw;
  },
};

export const absolutePath: ValueType<string> = {
  description: 'absolute path',
  parse(raw) {
    if (!posix.isAbsolute(raw)) throw new InvalidValue(`${show(raw)} is not an absolute path`);
    return raw;
  },
};

/** An AMQP queue name of ours: letters, digits, `.`, `_`, `-`, at most 200 (no `amq.` prefix). */
export const queueName: ValueType<string> = {
  description: 'queue name',
  parse(raw) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(raw) || raw.startsWith('amq.'))
      throw new InvalidValue(`${show(raw)} is not a queue name (letters, digits, '.', '_', '-'; not amq.*)`);
    return raw;
  },
};

/** An absolute path, or '' for "the default place" (the option's help says where). */
export const optionalAbsolutePath: ValueType<string> = {
  description: 'absolute path or empty',
  parse(raw, warn) {
    return raw === '' ? '' : absolutePath.parse(raw, warn);
  },
};

export function integer(range: { min?: number; max?: number } = {}): ValueType<number> {
  return {
    description: describeRange('integer', range.min, range.max),
    parse(raw) {
      if (!/^[+-]?\d+$/.test(raw)) throw new InvalidValue(`${show(raw)} is not an integer`);
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) throw new InvalidValue(`${show(raw)} is too large`);
      checkRange(value, range.min, range.max);
      return value;
    },
  };
}

/**
 * The most seconds a duration option may hold: what a Node timer can wait (2^31-1 ms, about
 * 24.8 days). A longer delay is not refused by Node: it fires after 1 ms.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Whole seconds for a timer or a deadline: at least `min`, at most `max` and MAX_TIMER_SECONDS. */
export function seconds(range: { min: number; max?: number }): ValueType<number> {
  const max = Math.min(range.max ?? MAX_TIMER_SECONDS, MAX_TIMER_SECONDS);
  const whole = integer({ min: range.min });
  return {
    description: `seconds ${range.min}..${max}`,
    parse(raw, warn) {
      const value = whole.parse(raw, warn);
      if (value > max)
        throw new InvalidValue(
          max === MAX_TIMER_SECONDS
            ? `${value} s is longer than a timer can wait: at most ${max} s (about 24.8 days)`
            : `must be at most ${max} s (got ${value})`,
        );
      return value;
    },
  };
}

/** A comma-separated list, each item one of `choices`; empty = none. */
export function choiceList<T extends string>(choices: readonly T[]): ValueType<readonly T[]> {
  return {
    description: `comma-separated list of ${choices.join('|')}, or empty`,
    parse(raw) {
      const items = raw
        .split(',')
        .map((item) => item.trim().toLowerCase())
        .filter((item) => item !== '');
      for (const item of items)
        if (!(choices as readonly string[]).includes(item))
          throw new InvalidValue(`${show(item)} is not one of ${choices.join(', ')}`);
      return Object.freeze([...new Set(items)] as T[]);
    },
  };
}

/** A comma-separated list of queue-name words (at least one), e.g. notification topics. */
export const nameList: ValueType<readonly string[]> = {
  description: 'comma-separated names',
  parse(raw, warn) {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (items.length === 0) throw new InvalidValue('must name at least one');
    return Object.freeze(items.map((item) => queueName.parse(item, warn)));
  },
};

/** A float strictly greater than `above` (the only kind of float option there is). */
export function floatAbove(above: number): ValueType<number> {
  return {
    description: `float > ${above}`,
    parse(raw) {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new InvalidValue(`${show(raw)} is not a number`);
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new InvalidValue(`${show(raw)} is too large`);
      if (!(value > above)) throw new InvalidValue(`must be > ${above} (got ${raw})`);
      return value;
    },
  };
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

export const boolean: ValueType<boolean> = {
  description: 'boolean',
  parse(raw) {
    const word = raw.toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
    throw new InvalidValue(`${show(raw)} is not a boolean (use true/false, yes/no, on/off or 1/0)`);
  },
};

export const ipv4: ValueType<string> = {
  description: 'IPv4 address',
  parse(raw) {
    if (!isIPv4(raw)) throw new InvalidValue(`${show(raw)} is not an IPv4 address`);
    return raw;
  },
};

export const transportUrl: ValueType<string> = {
  description: 'rabbit://, amqp:// or amqps:// URL',
  parse(raw) {
    const url = parseUrl(raw);
    if (url.protocol !== 'rabbit:' && url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
      throw new InvalidValue(`${show(raw)} is not a rabbit://, amqp:// or amqps:// URL`);
    }
    if (url.hostname === '') throw new InvalidValue(`${show(raw)} has no host`);
    return raw;
  },
};

/** A JavaScript regular expression, checked at load ('' = none). */
export const regularExpression: ValueType<string> = {
  description: 'regular expression',
  parse(raw) {
    try {
      new RegExp(raw);
    } catch (e) {
      throw new InvalidValue(`${show(raw)} is not a regular expression: ${(e as Error).message}`);
    }
    return raw;
  },
};

const SQL_HINT = 'nova-bm stores nova_bm in PostgreSQL; use postgresql://USER:PASSWORD@HOST[:PORT]/nova_bm';

export const sqlConnection: ValueType<string> = {
  description: 'postgresql:// URL',
  parse(raw) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1].toLowerCase();
    if (scheme === undefined) throw new InvalidValue(`${show(raw)} is not a URL: ${SQL_HINT}`);
    const dialect = scheme.split('+')[0];
    if (dialect === 'mysql' || dialect === 'mariadb')
      throw new InvalidValue(`${scheme}:// is not supported yet: ${SQL_HINT}`);
    if (scheme !== 'postgresql' && scheme !== 'postgres')
      throw new InvalidValue(`${scheme}:// is not supported: ${SQL_HINT}`);
    const url = parseUrl(raw);
    if (url.hostname === '') throw new InvalidValue(`${show(raw)} has no host: ${SQL_HINT}`);
    if (url.pathname.replace(/^\//, '') === '') throw new InvalidValue(`${show(raw)} names no database: ${SQL_HINT}`);
    return raw;
  },
};

/** oslo ListOpt of `key:value` items, e.g. `cpu_arch:x86_64, foo:bar`. */
export const keyValueList: ValueType<Readonly<Record<string, string>>> = {
  description: 'comma-separated key:value list',
  parse(raw, warn) {
    const pairs = new Map<string, string>();
    for (const item of raw.split(',').map((part) => part.trim())) {
      if (item === '') continue;
      const colon = item.indexOf(':');
      if (colon < 0) throw new InvalidValue(`${show(item)} is not a key:value pair`);
      const key = item.slice(0, colon).trim();
      if (key === '') throw new InvalidValue(`${show(item)} has an empty key`);
      if (pairs.has(key)) warn(`key '${key}' is given twice; the last value wins`);
      pairs.set(key, item.slice(colon + 1).trim());
    }
    // fromEntries defines own properties, so a key like `__proto__` cannot touch the prototype.
    return Object.freeze(Object.fromEntries(pairs));
  },
};

export interface ClassChoice<K extends string> {
  readonly kind: K;
  /** Accepted spellings, the nova class path first; matched case-insensitively. */
  readonly spellings: readonly string[];
}

/** A nova `module.Class` path (or short alias) mapped onto one of our implementations. */
export function classPath<K extends string>(
  choices: readonly ClassChoice<K>[],
  unsupported: (raw: string) => string,
): ValueType<K> {
  const all = choices.flatMap((choice) => choice.spellings.map((spelling) => ({ spelling, kind: choice.kind })));
  return {
    description: `class path (${all.map((entry) => entry.spelling).join(', ')})`,
    parse(raw, warn) {
      const exact = all.find((entry) => entry.spelling === raw);
      if (exact !== undefined) return exact.kind;
      const folded = all.find((entry) => entry.spelling.toLowerCase() === raw.toLowerCase());
      if (folded === undefined) throw new InvalidValue(unsupported(raw));
      warn(`${show(raw)} is accepted, but the right spelling is ${folded.spelling}`);
      return folded.kind;
    },
  };
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new InvalidValue(`${show(raw)} is not a valid URL`);
  }
}

function describeRange(kind: string, min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} ${min}..${max}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

function checkRange(value: number, min?: number, max?: number): void {
  if (min !== undefined && max !== undefined && (value < min || value > max)) {
    throw new InvalidValue(`must be between ${min} and ${max} (got ${value})`);
  }
  if (min !== undefined && value < min) throw new InvalidValue(`must be >= ${min} (got ${value})`);
  if (max !== undefined && value > max) throw new InvalidValue(`must be <= ${max} (got ${value})`);
}

/** `ipv4` or empty (an optional address). */
export const optionalIpv4: ValueType<string> = {
  description: 'IPv4 address or empty',
  parse(raw, warn) {
    return raw === '' ? '' : ipv4.parse(raw, warn);
  },
};

/** `FIRST,LAST`: an IPv4 range, FIRST <= LAST; empty = none. */
export const ipv4Range: ValueType<{ first: string; last: string } | null> = {
  description: 'FIRST,LAST IPv4 range or empty',
  parse(raw) {
    if (raw.trim() === '') return null;
    const parts = raw.split(',').map((p) => p.trim());
    if (parts.length !== 2 || !parts.every((p) => isIPv4(p)))
      throw new InvalidValue(`${show(raw)} is not FIRST,LAST (two IPv4 addresses)`);
    const n = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
    if (n(parts[0]) > n(parts[1])) throw new InvalidValue(`${show(raw)}: the first address is above the last`);
    return { first: parts[0], last: parts[1] };
  },
};

export function oneOf<T extends string>(choices: readonly T[]): ValueType<T> {
  return {
    description: choices.join('|'),
    parse(raw) {
      const v = raw.trim().toLowerCase() as T;
      if (!choices.includes(v)) throw new InvalidValue(`${show(raw)} is not one of ${choices.join(', ')}`);
      return v;
    },
  };
}
