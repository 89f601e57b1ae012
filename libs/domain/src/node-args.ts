import { Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';

@ValidatorConstraint({ name: 'nodeRef' })
class NodeRef implements ValidatorConstraintInterface {
  validate(v: unknown): boolean {
    return (typeof v === 'number' && Number.isInteger(v) && v > 0) || (typeof v === 'string' && v.trim() !== '');
  }
  defaultMessage(): string {
    return 'node must be a node id or UUID';
  }
}

/** RPC arguments naming a node: `node` is a bm_nodes id or UUID, as Nova's driver looked nodes up. */
export class NodeArgs {
  @Validate(NodeRef)
  node: string | number;
}

/** A UUID in its canonical text form (any case). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A node reference (id or UUID, as any entry point takes it) as a lookup key; undefined if neither. */
export function nodeKey(ref: string | number): { id: number } | { uuid: string } | undefined {
  const text = String(ref).trim();
  if (/^[0-9]+$/.test(text) && Number(text) <= 2 ** 31 - 1) return { id: Number(text) };
  if (UUID_PATTERN.test(text)) return { uuid: text.toLowerCase() };
  return undefined;
}
