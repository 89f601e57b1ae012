/** Numbered parameters for a statement built piece by piece: `add(v)` returns its `$n`. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The SQL of a naive UTC "now", as every nova_bm timestamp is written. */
export const NOW_UTC = `now() AT TIME ZONE 'UTC'`;

/** Largest value of a PostgreSQL `integer` (ids): a larger number names no row. */
export const MAX_INT4 = 2 ** 31 - 1;

/** SQLSTATE of a unique constraint violation. */
export const UNIQUE_VIOLATION = '23505';

/** True when `e` is PostgreSQL's unique violation of `constraint`. */
export function isUniqueViolation(e: unknown, constraint: string): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, constraint: name } = e as { code?: unknown; constraint?: unknown };
  return code === UNIQUE_VIOLATION && name === constraint;
}
