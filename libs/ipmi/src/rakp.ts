/**
 * RMCP+ session setup payloads (§13.17–13.23): Open Session Request/Response and RAKP 1–4,
 * for any cipher suite's algorithms. Encoders and decoders for both sides.
 */
import type { Algorithms } from './crypto';
import { MalformedPacket } from './message';

/** RMCP+ status codes (Table 13-15), named. */
export const RAKP_STATUS: Record<number, string> = {
  0x00: 'no errors',
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export const rakpStatusName = (s: number) => RAKP_STATUS[s] ?? `status 0x${s.toString(16)}`;

function need(b: Buffer, n: number, what: string): void {
  if (b.length < n) throw new MalformedPacket(`${what} of ${b.length} bytes is too short`);
}

const records = (a: Algorithms) =>
  Buffer.from([0, 0, 0, 8, a.auth, 0, 0, 0, 1, 0, 0, 8, a.integrity, 0, 0, 0, 2, 0, 0, 8, a.conf, 0, 0, 0]);

function parseRecords(b: Buffer): Algorithms {
  need(b, 24, 'algorithm records');
  for (const [i, type] of [
    [0, 0],
    [8, 1],
    [16, 2],
  ]) {
    if (b[i] !== type || b[i + 3] !== 8) throw new MalformedPacket('bad algorithm record');
  }
  return { auth: b[4] & 0x3f, integrity: b[12] & 0x3f, conf: b[20] & 0x3f };
}

export interface OpenSessionRequest {
  tag: number;
  maxPriv: number;
  sidm: Buffer;
  algorithms: Algorithms;
}

export const encodeOpenSessionRequest = (r: OpenSessionRequest) =>
  Buffer.concat([Buffer.from([r.tag, r.maxPriv, 0, 0]), r.sidm, records(r.algorithms)]);

export function decodeOpenSessionRequest(b: Buffer): OpenSessionRequest {
  need(b, 32, 'Open Session Request');
  return {
    tag: b[0],
    maxPriv: b[1] & 0x0f,
    sidm: Buffer.from(b.subarray(4, 8)),
    algorithms: parseRecords(b.subarray(8, 32)),
  };
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  maxPriv: number;
  sidm: Buffer;
  sidc: Buffer;
  algorithms?: Algorithms;
}

export function encodeOpenSessionResponse(r: OpenSessionResponse): Buffer {
  const head = Buffer.from([r.tag, r.status, r.maxPriv, 0]);
  if (r.status !== 0) return Buffer.concat([head, r.sidm]);
  return Buffer.concat([head, r.sidm, r.sidc, records(r.algorithms!)]);
}

export function decodeOpenSessionResponse(b: Buffer): OpenSessionResponse {
  need(b, 2, 'Open Session Response');
  const r: OpenSessionResponse = {
    tag: b[0],
    status: b[1],
    maxPriv: b[2] ?? 0,
    sidm: Buffer.from(b.subarray(4, 8)),
    sidc: Buffer.alloc(4),
  };
  if (r.status !== 0) return r;
  need(b, 36, 'Open Session Response');
  return { ...r, sidc: Buffer.from(b.subarray(8, 12)), algorithms: parseRecords(b.subarray(12, 36)) };
}

export interface Rakp1 {
  tag: number;
  sidc: Buffer;
  rm: Buffer;
  role: number;
  user: Buffer;
}

export const encodeRakp1 = (r: Rakp1) =>
  Buffer.concat([Buffer.from([r.tag, 0, 0, 0]), r.sidc, r.rm, Buffer.from([r.role, 0, 0, r.user.length]), r.user]);

export function decodeRakp1(b: Buffer): Rakp1 {
  need(b, 28, 'RAKP1');
  const ulen = b[27];
  if (ulen > 16) throw new MalformedPacket('RAKP1 user name longer than 16 bytes');
  need(b, 28 + ulen, 'RAKP1');
  return {
    tag: b[0],
    sidc: Buffer.from(b.subarray(4, 8)),
    rm: Buffer.from(b.subarray(8, 24)),
    role: b[24],
    user: Buffer.from(b.subarray(28, 28 + ulen)),
  };
}

export interface Rakp2 {
  tag: number;
  status: number;
  sidm: Buffer;
  rc: Buffer;
  guid: Buffer;
  authCode: Buffer;
}

export function encodeRakp2(r: Rakp2): Buffer {
  const head = Buffer.from([r.tag, r.status, 0, 0]);
  if (r.status !== 0) return Buffer.concat([head, r.sidm]);
  return Buffer.concat([head, r.sidm, r.rc, r.guid, r.authCode]);
}

export function decodeRakp2(b: Buffer): Rakp2 {
  need(b, 2, 'RAKP2');
  const r: Rakp2 = {
    tag: b[0],
    status: b[1],
    sidm: Buffer.from(b.subarray(4, 8)),
    rc: Buffer.alloc(0),
    guid: Buffer.alloc(0),
    authCode: Buffer.alloc(0),
  };
  if (r.status !== 0) return r;
  need(b, 60, 'RAKP2');
  // The key exchange AuthCode is 20 bytes (HMAC-SHA1) or 32 (HMAC-SHA256).
  return {
    ...r,
    rc: Buffer.from(b.subarray(8, 24)),
    guid: Buffer.from(b.subarray(24, 40)),
    authCode: Buffer.from(b.subarray(40)),
  };
}

/**
 * RAKP 3 and 4 share a layout: tag, status, 2 reserved bytes, a session id, then (on success only)
 * the proof: RAKP 3's AuthCode, RAKP 4's integrity check value.
 */
const encodeRakp34 = (tag: number, status: number, sid: Buffer, proof: Buffer) =>
  Buffer.concat([Buffer.from([tag, status, 0, 0]), sid, status === 0 ? proof : Buffer.alloc(0)]);

export interface Rakp3 {
  tag: number;
  status: number;
  sidc: Buffer;
  authCode: Buffer;
}

export const encodeRakp3 = (r: Rakp3) => encodeRakp34(r.tag, r.status, r.sidc, r.authCode);

export function decodeRakp3(b: Buffer): Rakp3 {
  need(b, 8, 'RAKP3');
  return { tag: b[0], status: b[1], sidc: Buffer.from(b.subarray(4, 8)), authCode: Buffer.from(b.subarray(8)) };
}

export interface Rakp4 {
  tag: number;
  status: number;
  sidm: Buffer;
  icv: Buffer;
}

export const encodeRakp4 = (r: Rakp4) => encodeRakp34(r.tag, r.status, r.sidm, r.icv);

/** `icvLength`: 12 for cipher suite 3, 16 for 17. */
export function decodeRakp4(b: Buffer, icvLength = 12): Rakp4 {
  need(b, 8, 'RAKP4');
  const r = { tag: b[0], status: b[1], sidm: Buffer.from(b.subarray(4, 8)), icv: Buffer.alloc(0) };
  if (r.status !== 0) return r;
  need(b, 8 + icvLength, 'RAKP4');
  return { ...r, icv: Buffer.from(b.subarray(8, 8 + icvLength)) };
}
