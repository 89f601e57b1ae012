/** TFTP error codes (RFC 1350 §5, RFC 2347 adds 8). */
import { namedError } from '@bm/core';

export const TftpErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type TftpErrorCode = (typeof TftpErrorCode)[keyof typeof TftpErrorCode];

const MESSAGES: Record<TftpErrorCode, string> = {
  0: 'not defined',
  1: 'file not found',
  2: 'access violation',
  3: 'disk full or allocation exceeded',
  4: 'illegal TFTP operation',
  5: 'unknown transfer ID',
  6: 'file already exists',
  7: 'no such user',
  8: 'option negotiation refused',
};

/** The standard text of an error code ("not defined" for codes outside 0–8). */
export function tftpErrorMessage(code: number): string {
  return MESSAGES[code as TftpErrorCode] ?? MESSAGES[0];
}

/** A datagram that is not a well-formed TFTP packet (the only thing the decoder throws). */
export class TftpPacketError extends namedError('TftpPacketError', 'invalid') {}

/**
 * A refusal that becomes an ERROR packet to the client: thrown by path confinement and file
 * providers (e.g. ACCESS_VIOLATION for a path outside the root).
 */
export class TftpError extends namedError('TftpError', 'failed') {
  constructor(
    readonly code: TftpErrorCode,
    message: string = tftpErrorMessage(code),
  ) {
    super(message);
  }
}
