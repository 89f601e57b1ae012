import { plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync } from 'class-validator';
import type { FieldProblem } from './errors';

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

/** class-validator errors as one problem per field ("is not a known field" for extra ones). */
export function validationProblems(errors: ValidationError[]): FieldProblem[] {
  return flatten(errors).map((p) =>
    p.message.startsWith('property ') ? { ...p, message: 'is not a known field' } : p,
  );
}

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    // One message per field: for 'ten' "must be a positive integer" says it all.
    const first = Object.values(e.constraints ?? {})[0];
    const own = first ? [{ field, message: first.replace(new RegExp(`^${e.property} `), '') }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Runs class-validator on a plain object; unknown fields are errors, nothing is coerced. */
export function validateDto<T extends object>(cls: new () => T, plain: unknown): Validated<T> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    return { ok: false, problems: [{ field: '(body)', message: 'must be an object' }] };
  }
  const dto = plainToInstance(cls, plain);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) {
    return { ok: false, problems: validationProblems(errors) };
  }
  return { ok: true, value: dto };
}
