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
