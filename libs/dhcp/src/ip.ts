/** Dotted-quad IPv4 helpers shared by the codec, the responder and the lease store. No I/O. */

const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return DOTTED.test(s);
}

/** `'10.77.0.1'` → 0x0a4d0001 (an unsigned 32-bit number). Throws RangeError on anything else. */
export function ipToInt(s: string): number {
  if (!DOTTED.test(s)) throw new RangeError(`not a dotted-quad IPv4 address: ${JSON.stringify(s)}`);
  const [a, b, c, d] = s.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a 32-bit address: ${n}`);
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function ipToBytes(s: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToInt(s));
  return b;
}

export function bytesToIp(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';

/** True when `ip` and `other` are in the same subnet under `netmask`. */
export function sameSubnet(ip: string, other: string, netmask: string): boolean {
  const m = ipToInt(netmask);
  return ((ipToInt(ip) & m) >>> 0) === ((ipToInt(other) & m) >>> 0);
}
