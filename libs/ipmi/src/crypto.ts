/**
 * RMCP+ cipher suites 3 and 17 (IPMI 2.0 §13.28–13.33): RAKP-HMAC-SHA1 or -SHA256 authentication,
 * HMAC-SHA1-96 or HMAC-SHA256-128 integrity, AES-CBC-128 confidentiality.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { MalformedPacket } from './message';

export const hmac = (hash: 'sha1' | 'sha256', key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Algorithm numbers of an RMCP+ cipher suite (Tables 13-17 to 13-19). */
export interface Algorithms {
  auth: number;
  integrity: number;
  conf: number;
}

/**
 * The two suites we speak. 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128. 17: RAKP-HMAC-SHA256,
 * HMAC-SHA256-128, AES-CBC-128. Both authenticate and encrypt every packet; suite 0 (nothing)
 * and the others are never offered or accepted.
 */
export interface CipherSuite {
  id: 3 | 17;
  algorithms: Algorithms;
  hash: 'sha1' | 'sha256';
  /** Bytes of the RAKP 4 integrity check value and of each packet's AuthCode. */
  icvLength: number;
  authCodeLength: number;
}

/** Both suites: AES-CBC-128 confidentiality (conf 1); the RAKP 4 ICV and packet AuthCodes are `bytes` long. */
function aesSuite(id: 3 | 17, hash: 'sha1' | 'sha256', auth: number, integrity: number, bytes: number): CipherSuite {
  return { id, algorithms: { auth, integrity, conf: 1 }, hash, icvLength: bytes, authCodeLength: bytes };
}

/** RAKP-HMAC-SHA1 (auth 1), HMAC-SHA1-96 (integrity 1). */
export const SUITE_3 = aesSuite(3, 'sha1', 1, 1, 12);
/** RAKP-HMAC-SHA256 (auth 3), HMAC-SHA256-128 (integrity 4). */
export const SUITE_17 = aesSuite(17, 'sha256', 3, 4, 16);
export const CIPHER_SUITES: readonly CipherSuite[] = [SUITE_17, SUITE_3];

/** The suites with these ids, in that order (unknown ids are left out). */
export function suitesById(ids: readonly number[]): CipherSuite[] {
  return ids.flatMap((id) => CIPHER_SUITES.filter((c) => c.id === id));
}

export function suiteOf(a: Algorithms): CipherSuite | undefined {
  return CIPHER_SUITES.find(
    (c) => c.algorithms.auth === a.auth && c.algorithms.integrity === a.integrity && c.algorithms.conf === a.conf,
  );
}

/** Kuid: the user's password, NUL-padded to 20 bytes (longer ones are refused). */
export function kuid(password: string): Buffer {
  const p = Buffer.from(password, 'utf8');
  if (p.length > 20) throw new RangeError('an IPMI 2.0 password is at most 20 bytes');
  return Buffer.concat([p, Buffer.alloc(20 - p.length)]);
}

export interface SessionKeys {
  suite: CipherSuite;
  sik: Buffer;
  /** Integrity key. */
  k1: Buffer;
  /** K2; its first 16 bytes are the AES key. */
  k2: Buffer;
}

/** The fields both RAKP sides hash; SIDs are their 4 little-endian wire bytes. */
export interface RakpFields {
  sidm: Buffer;
  sidc: Buffer;
  rm: Buffer;
  rc: Buffer;
  guid: Buffer;
  role: number;
  user: Buffer;
}

const roleUser = (f: RakpFields) => Buffer.concat([Buffer.from([f.role, f.user.length]), f.user]);

export const rakp2AuthCode = (k: Buffer, f: RakpFields, c: CipherSuite = SUITE_3) =>
  hmac(c.hash, k, f.sidm, f.sidc, f.rm, f.rc, f.guid, roleUser(f));
export const rakp3AuthCode = (k: Buffer, f: RakpFields, c: CipherSuite = SUITE_3) =>
  hmac(c.hash, k, f.rc, f.sidm, roleUser(f));
export const rakp4Icv = (sik: Buffer, f: RakpFields, c: CipherSuite = SUITE_3) =>
  hmac(c.hash, sik, f.rm, f.sidc, f.guid).subarray(0, c.icvLength);

/**
 * SIK = HMAC(Kg, Rm ‖ Rc ‖ Role ‖ ULen ‖ UName), Kg = Kuid when the BMC key is null;
 * K1 = HMAC(SIK, 20 × 0x01), K2 = HMAC(SIK, 20 × 0x02), with the suite's hash.
 */
export function sessionKeys(kg: Buffer, f: RakpFields, c: CipherSuite = SUITE_3): SessionKeys {
  const sik = hmac(c.hash, kg, f.rm, f.rc, roleUser(f));
  return { suite: c, sik, k1: hmac(c.hash, sik, Buffer.alloc(20, 1)), k2: hmac(c.hash, sik, Buffer.alloc(20, 2)) };
}

/** What both sides of a login derive from the user key once RAKP 1 and 2 have given them the fields. */
export interface RakpProofs {
  /** RAKP 2's AuthCode: the BMC proves it knows the password. */
  rakp2: Buffer;
  /** RAKP 3's AuthCode: the console proves it. */
  rakp3: Buffer;
  keys: SessionKeys;
  /** RAKP 4's integrity check value: the BMC proves it holds the same session keys. */
  rakp4: Buffer;
}

export function rakpProofs(kuidKey: Buffer, f: RakpFields, c: CipherSuite): RakpProofs {
  const keys = sessionKeys(kuidKey, f, c);
  return {
    rakp2: rakp2AuthCode(kuidKey, f, c),
    rakp3: rakp3AuthCode(kuidKey, f, c),
    keys,
    rakp4: rakp4Icv(keys.sik, f, c),
  };
}

export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** IV ‖ AES-128-CBC(msg ‖ 01 02 … N ‖ N), N making the plaintext a multiple of 16 (Table 13-20). */
export function encryptPayload(k2: Buffer, iv: Buffer, msg: Buffer): Buffer {
  const n = (16 - ((msg.length + 1) % 16)) % 16;
  const pad = Buffer.from(Array.from({ length: n }, (_, i) => i + 1));
  const c = createCipheriv('aes-128-cbc', k2.subarray(0, 16), iv).setAutoPadding(false);
  return Buffer.concat([iv, c.update(Buffer.concat([msg, pad, Buffer.from([n])])), c.final()]);
}

export function decryptPayload(k2: Buffer, payload: Buffer): Buffer {
  if (payload.length < 32 || payload.length % 16 !== 0)
    throw new MalformedPacket(`encrypted payload of ${payload.length} bytes`);
  const d = createDecipheriv('aes-128-cbc', k2.subarray(0, 16), payload.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([d.update(payload.subarray(16)), d.final()]);
  const n = plain[plain.length - 1];
  if (n > 15 || n + 1 > plain.length) throw new MalformedPacket('bad confidentiality pad length');
  for (let i = 0; i < n; i++)
    if (plain[plain.length - 1 - n + i] !== i + 1) throw new MalformedPacket('bad confidentiality pad');
  return plain.subarray(0, plain.length - 1 - n);
}
