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

/** An image (raw bytes or a qcow2's virtual size) does not fit the partition it is written to. */
export class ImageTooLarge extends namedError('ImageTooLarge', 'invalid') {
  constructor(
    readonly imageBytes: number,
    readonly partitionBytes: number,
    detail: string,
  ) {
    super(`image of ${imageBytes} bytes does not fit the ${partitionBytes}-byte partition: ${detail}`);
  }
}

/**
 * What was written is not what Glance described: `differences` names each field that differs
 * (size, md5 = Glance's `checksum`, sha512 = Glance's `os_hash_value`).
 */
export class ImageChecksumMismatch extends namedError('ImageChecksumMismatch', 'failed') {
  constructor(readonly differences: string[]) {
    super(`image verification failed: ${differences.join('; ')}`);
  }
}

/** Reading the image or writing it to the target failed part-way (the cause is kept). */
export class ImageWriteFailed extends namedError('ImageWriteFailed', 'failed') {}

/** An image that must not be written: not the expected format, or a qcow2 with a backing file. */
export class InvalidImage extends namedError('InvalidImage', 'invalid') {}

/** blkid found no filesystem (or no UUID) where the root filesystem should be. */
export class FilesystemNotFound extends namedError('FilesystemNotFound', 'failed') {}
