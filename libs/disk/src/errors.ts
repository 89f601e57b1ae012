import { type FieldProblem, formatProblem, namedError } from '@bm/core';

/**
 * A bad layout request (negative or fractional MiB, an unknown scheme or table). Spelled
 * `InvalidParameterValue` on the wire like Nova's exception (a local class: libs/disk does not
 * import @bm/domain).
 */
export class InvalidDiskParameter extends namedError('InvalidParameterValue', 'invalid') {
  constructor(
    readonly problems: FieldProblem[],
    summary = 'Invalid partition layout request',
  ) {
    super(`${summary}: ${problems.map(formatProblem).join('; ')}`);
  }
}

/** The partitions asked for do not fit on the disk; the message names every size. */
export class DiskTooSmall extends namedError('DiskTooSmall', 'invalid') {
  constructor(
    readonly diskMb: number,
    readonly neededMb: number,
    detail: string,
  ) {
    super(`disk of ${diskMb} MiB is too small: ${detail} need ${neededMb} MiB`);
  }
}

/** `sfdisk -J` printed something that is not a partition table we understand. */
export class UnreadablePartitionTable extends namedError('UnreadablePartitionTable', 'failed') {}
