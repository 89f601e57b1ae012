/**
 * Datagrams on UDP 623: the RMCP header, then an IPMI 1.5 session (only the pre-session Get
 * Channel Authentication Capabilities) or an RMCP+ (IPMI 2.0) session (§13.6, Table 13-8).
 */
import { type CipherSuite, SUITE_3, decryptPayload, encryptPayload, hmac, safeEqual } from './crypto';
import { MalformedPacket } from './message';

export const RMCP_HEADER = Buffer.from([0x06, 0x00, 0xff, 0x07]);
const AUTH_RMCPPLUS = 0x06;
const NEXT_HEADER = 0x07;

export const PayloadType = {
  IPMI: 0x00,
  SOL: 0x01,
  OEM: 0x02,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;

export interface V15Packet {
  kind: 'v1.5';
  authType: number;
  seq: number;
  sessionId: number;
  message: Buffer;
}

export interface V20Packet {
  kind: 'v2.0';
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  seq: number;
  /** The payload as on the wire (still encrypted when `encrypted`). */
  payload: Buffer;
  /** authType … payload length: the session header, signed with the payload and trailer. */
  header: Buffer;
  /** Authenticated packets: integrity pad, pad length, next header, AuthCode (its length depends on the suite). */
  trailer?: Buffer;
}

export type Packet = V15Packet | V20Packet;

/** Parses a datagram's framing; never throws anything but MalformedPacket. */
export function decodePacket(d: Buffer): Packet {
  if (d.length < 5 || d[0] !== 0x06 || d[3] !== 0x07) throw new MalformedPacket('not an RMCP IPMI datagram');
  if (d[4] !== AUTH_RMCPPLUS) {
    // IPMI 1.5: authType seq(4) sid(4) [authCode(16)] len msg
    const authType = d[4];
    const off = authType === 0 ? 13 : 29;
    if (d.length < off + 1) throw new MalformedPacket('truncated IPMI 1.5 session header');
    const len = d[off];
    if (d.length < off + 1 + len) throw new MalformedPacket('truncated IPMI 1.5 message');
    return {
      kind: 'v1.5',
      authType,
      seq: d.readUInt32LE(5),
      sessionId: d.readUInt32LE(9),
      message: Buffer.from(d.subarray(off + 1, off + 1 + len)),
    };
  }
  if (d.length < 16) throw new MalformedPacket('truncated RMCP+ session header');
  const pt = d[5];
  let off = 6;
  if ((pt & 0x3f) === PayloadType.OEM) off += 6; // IANA(4) + OEM payload id(2)
  if (d.length < off + 10) throw new MalformedPacket('truncated RMCP+ session header');
  const sessionId = d.readUInt32LE(off);
  const seq = d.readUInt32LE(off + 4);
  const len = d.readUInt16LE(off + 8);
  const start = off + 10;
  if (d.length < start + len) throw new MalformedPacket(`RMCP+ payload length ${len} exceeds the datagram`);
  const p: V20Packet = {
    kind: 'v2.0',
    payloadType: pt & 0x3f,
    encrypted: (pt & 0x80) !== 0,
    authenticated: (pt & 0x40) !== 0,
    sessionId,
    seq,
    payload: Buffer.from(d.subarray(start, start + len)),
    header: Buffer.from(d.subarray(4, start)),
  };
  if (p.authenticated) {
    p.trailer = Buffer.from(d.subarray(start + len));
    if (p.trailer.length < 14) throw new MalformedPacket('truncated RMCP+ integrity trailer');
  }
  return p;
}

export function encodeV15(message: Buffer): Buffer {
  const h = Buffer.alloc(9); // authType none, seq 0, session 0
  return Buffer.concat([RMCP_HEADER, h, Buffer.from([message.length]), message]);
}

/** Session keys as packets need them: K1 signs, K2 encrypts, the suite says how. */
export interface PacketKeys {
  k1: Buffer;
  k2: Buffer;
  suite?: CipherSuite;
}

export interface V20Out {
  payloadType: number;
  sessionId: number;
  seq: number;
  payload: Buffer;
  /** Sign and encrypt with these keys (an established session); absent = cleartext setup packet. */
  keys?: PacketKeys;
  /** The AES IV (16 random bytes) when encrypting. */
  iv?: Buffer;
}

export function encodeV20(o: V20Out): Buffer {
  const secure = o.keys !== undefined;
  const payload = secure ? encryptPayload(o.keys!.k2, o.iv!, o.payload) : o.payload;
  const h = Buffer.alloc(12);
  h[0] = AUTH_RMCPPLUS;
  h[1] = o.payloadType | (secure ? 0xc0 : 0);
  h.writeUInt32LE(o.sessionId >>> 0, 2);
  h.writeUInt32LE(o.seq >>> 0, 6);
  h.writeUInt16LE(payload.length, 10);
  if (!secure) return Buffer.concat([RMCP_HEADER, h, payload]);
  const pad = (4 - ((12 + payload.length + 2) % 4)) % 4;
  const signed = Buffer.concat([h, payload, Buffer.alloc(pad, 0xff), Buffer.from([pad, NEXT_HEADER])]);
  const suite = o.keys!.suite ?? SUITE_3;
  return Buffer.concat([RMCP_HEADER, signed, hmac(suite.hash, o.keys!.k1, signed).subarray(0, suite.authCodeLength)]);
}

/** Verifies a session packet's AuthCode and returns its decrypted payload. */
export function openV20(p: V20Packet, keys: PacketKeys): Buffer {
  if (!p.authenticated || !p.trailer) throw new MalformedPacket('session packet is not authenticated');
  const suite = keys.suite ?? SUITE_3;
  const t = p.trailer;
  const authAt = t.length - suite.authCodeLength;
  if (authAt < 2 || t[authAt - 1] !== NEXT_HEADER || t[authAt - 2] !== authAt - 2)
    throw new MalformedPacket('bad RMCP+ integrity trailer');
  const signed = Buffer.concat([p.header, p.payload, t.subarray(0, authAt)]);
  if (!safeEqual(hmac(suite.hash, keys.k1, signed).subarray(0, suite.authCodeLength), t.subarray(authAt))) {
    throw new MalformedPacket(`bad integrity AuthCode (${suite.id === 3 ? 'HMAC-SHA1-96' : 'HMAC-SHA256-128'})`);
  }
  if (!p.encrypted) throw new MalformedPacket('session packet is not encrypted');
  return decryptPayload(keys.k2, p.payload);
}
