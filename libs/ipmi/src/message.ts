/**
 * IPMI LAN messages (IPMI 2.0 §13.8, figure 13-4): the bytes inside a session packet.
 *   request:  rsAddr netFn<<2|rsLUN chk1 rqAddr rqSeq<<2|rqLUN cmd data… chk2
 *   response: rqAddr netFn<<2|rqLUN chk1 rsAddr rqSeq<<2|rsLUN cmd cc data… chk2
 * A checksum is the two's complement that makes the covered bytes sum to 0 (mod 256).
 */
import { namedError } from '@bm/core';

export const BMC_ADDR = 0x20;
export const CONSOLE_ADDR = 0x81;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  data: Buffer;
  /** 6-bit request sequence, echoed in the response. */
  rqSeq: number;
}

export interface IpmiResponse {
  /** The response netFn (request netFn + 1). */
  netFn: number;
  cmd: number;
  rqSeq: number;
  cc: number;
  data: Buffer;
}

export class MalformedPacket extends namedError('MalformedPacket', 'invalid') {}

export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

export function encodeRequest(r: IpmiRequest): Buffer {
  const head = Buffer.from([BMC_ADDR, (r.netFn << 2) & 0xff]);
  const body = Buffer.concat([Buffer.from([CONSOLE_ADDR, (r.rqSeq << 2) & 0xff, r.cmd]), r.data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

export function encodeResponse(r: IpmiResponse): Buffer {
  const head = Buffer.from([CONSOLE_ADDR, (r.netFn << 2) & 0xff]);
  const body = Buffer.concat([Buffer.from([BMC_ADDR, (r.rqSeq << 2) & 0xff, r.cmd, r.cc]), r.data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

function checkFrame(b: Buffer, min: number): void {
  if (b.length < min) throw new MalformedPacket(`IPMI message of ${b.length} bytes is too short`);
  if (checksum(b.subarray(0, 2)) !== b[2]) throw new MalformedPacket('IPMI header checksum mismatch');
  if (checksum(b.subarray(3, b.length - 1)) !== b[b.length - 1])
    throw new MalformedPacket('IPMI data checksum mismatch');
}

export function decodeRequest(b: Buffer): IpmiRequest & { rsAddr: number; rqAddr: number } {
  checkFrame(b, 7);
  return {
    rsAddr: b[0],
    netFn: b[1] >> 2,
    rqAddr: b[3],
    rqSeq: b[4] >> 2,
    cmd: b[5],
    data: Buffer.from(b.subarray(6, b.length - 1)),
  };
}

export function decodeResponse(b: Buffer): IpmiResponse {
  checkFrame(b, 8);
  return { netFn: b[1] >> 2, rqSeq: b[4] >> 2, cmd: b[5], cc: b[6], data: Buffer.from(b.subarray(7, b.length - 1)) };
}

/** Completion codes (IPMI 2.0 §5.2, Table 5-2), named. */
export const COMPLETION_CODES: Record<number, string> = {
  0x00: 'OK',
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation canceled or invalid',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

export function completionCodeName(cc: number): string {
  return COMPLETION_CODES[cc] ?? `completion code 0x${cc.toString(16).padStart(2, '0')}`;
}
