/**
 * TFTP datagrams: RRQ/WRQ (RFC 1350, options RFC 2347), DATA, ACK, ERROR, OACK (RFC 2347).
 * `decodePacket` is strict and never throws anything but TftpPacketError.
 */
import { TftpPacketError, tftpErrorMessage } from './errors';

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Largest DATA payload (RFC 2348 blksize upper bound). */
export const MAX_DATA_LENGTH = 65464;

export type TftpMode = 'octet' | 'netascii';

/** Option names are lower case after decoding; values are kept as sent. Order is preserved. */
export type TftpOptions = Map<string, string>;

export interface RequestPacket {
  type: 'RRQ' | 'WRQ';
  filename: string;
  mode: TftpMode;
  options: TftpOptions;
}
export interface DataPacket {
  type: 'DATA';
  block: number;
  data: Buffer;
}
export interface AckPacket {
  type: 'ACK';
  block: number;
}
export interface ErrorPacket {
  type: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  type: 'OACK';
  options: TftpOptions;
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(message: string): never {
  throw new TftpPacketError(message);
}

/** Splits `d[from..]` into NUL-terminated strings (bytes); the region must end with a NUL. */
function cStrings(d: Buffer, from: number, what: string): Buffer[] {
  if (d.length <= from) fail(`truncated ${what}: no strings`);
  if (d[d.length - 1] !== 0) fail(`malformed ${what}: last string not NUL-terminated`);
  const out: Buffer[] = [];
  let start = from;
  while (start < d.length) {
    const end = d.indexOf(0, start);
    out.push(d.subarray(start, end));
    start = end + 1;
  }
  return out;
}

function latin1(b: Buffer): string {
  return b.toString('latin1');
}

/** Name/value pairs; trailing NUL padding (empty strings) after complete pairs is tolerated. */
function optionPairs(strings: Buffer[], what: string): TftpOptions {
  const rest = strings.slice();
  while (
    rest.length > 0 &&
    rest[rest.length - 1].length === 0 &&
    (rest.length % 2 === 1 || rest[rest.length - 2].length === 0)
  )
    rest.pop();
  if (rest.length % 2 !== 0) fail(`malformed ${what}: option "${latin1(rest[rest.length - 1])}" has no value`);
  const options: TftpOptions = new Map();
  for (let i = 0; i < rest.length; i += 2) {
    const name = latin1(rest[i]).toLowerCase();
    if (name.length === 0) fail(`malformed ${what}: empty option name`);
    if (options.has(name)) fail(`malformed ${what}: option "${name}" given twice`);
    options.set(name, latin1(rest[i + 1]));
  }
  return options;
}

function uint16(d: Buffer, what: string): number {
  if (d.length < 4) fail(`truncated ${what}: ${d.length} bytes`);
  return d.readUInt16BE(2);
}

export function decodePacket(d: Buffer): TftpPacket {
  if (!Buffer.isBuffer(d)) fail('not a buffer');
  if (d.length < 2) fail(`truncated packet: ${d.length} byte(s)`);
  const op = d.readUInt16BE(0);
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const type = op === Opcode.RRQ ? 'RRQ' : 'WRQ';
      const s = cStrings(d, 2, type);
      if (s.length < 2) fail(`malformed ${type}: no mode`);
      if (s[0].length === 0) fail(`malformed ${type}: empty file name`);
      let filename: string;
      try {
        filename = utf8.decode(s[0]);
      } catch {
        fail(`malformed ${type}: file name is not valid UTF-8`);
      }
      const mode = latin1(s[1]).toLowerCase();
      if (mode !== 'octet' && mode !== 'netascii') fail(`unsupported ${type} mode "${latin1(s[1])}"`);
      return { type, filename, mode, options: optionPairs(s.slice(2), type) };
    }
    case Opcode.DATA: {
      const block = uint16(d, 'DATA');
      if (d.length - 4 > MAX_DATA_LENGTH) fail(`DATA too long: ${d.length - 4} bytes`);
      return { type: 'DATA', block, data: Buffer.from(d.subarray(4)) };
    }
    case Opcode.ACK: {
      const block = uint16(d, 'ACK');
      if (d.length !== 4) fail(`malformed ACK: ${d.length} bytes`);
      return { type: 'ACK', block };
    }
    case Opcode.ERROR: {
      const code = uint16(d, 'ERROR');
      const s = cStrings(d, 4, 'ERROR');
      if (s.slice(1).some((x) => x.length > 0)) fail('malformed ERROR: data after the message');
      return { type: 'ERROR', code, message: s[0].toString('utf8') };
    }
    case Opcode.OACK: {
      const options = optionPairs(cStrings(d, 2, 'OACK'), 'OACK');
      if (options.size === 0) fail('malformed OACK: no options');
      return { type: 'OACK', options };
    }
    default:
      fail(`unknown opcode ${op}`);
  }
}

function cString(s: string, what: string, encoding: 'utf8' | 'latin1' = 'latin1'): Buffer {
  if (s.includes('\0')) throw new TftpPacketError(`${what} contains NUL`);
  return Buffer.concat([Buffer.from(s, encoding), Buffer.alloc(1)]);
}

function header(op: Opcode, n?: number): Buffer {
  const b = Buffer.alloc(n === undefined ? 2 : 4);
  b.writeUInt16BE(op, 0);
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new TftpPacketError(`not a 16-bit number: ${n}`);
    b.writeUInt16BE(n, 2);
  }
  return b;
}

function encodeOptions(options: ReadonlyMap<string, string>): Buffer[] {
  const out: Buffer[] = [];
  for (const [k, v] of options) {
    if (k.length === 0) throw new TftpPacketError('empty option name');
    out.push(cString(k, 'option name'), cString(v, 'option value'));
  }
  return out;
}

export function encodePacket(p: TftpPacket): Buffer {
  switch (p.type) {
    case 'RRQ':
    case 'WRQ':
      if (p.filename.length === 0) throw new TftpPacketError('empty file name');
      return Buffer.concat([
        header(p.type === 'RRQ' ? Opcode.RRQ : Opcode.WRQ),
        cString(p.filename, 'file name', 'utf8'),
        cString(p.mode, 'mode'),
        ...encodeOptions(p.options),
      ]);
    case 'DATA':
      if (p.data.length > MAX_DATA_LENGTH) throw new TftpPacketError(`DATA too long: ${p.data.length} bytes`);
      return Buffer.concat([header(Opcode.DATA, p.block), p.data]);
    case 'ACK':
      return header(Opcode.ACK, p.block);
    case 'ERROR':
      return Buffer.concat([header(Opcode.ERROR, p.code), cString(p.message.replace(/\0/g, ' '), 'message', 'utf8')]);
    case 'OACK':
      if (p.options.size === 0) throw new TftpPacketError('OACK without options');
      return Buffer.concat([header(Opcode.OACK), ...encodeOptions(p.options)]);
  }
}

/** The 4-byte DATA header (the payload is sent alongside without copying). */
export function dataHeader(block: number): Buffer {
  return header(Opcode.DATA, block & 0xffff);
}

/** Longest text in an ERROR packet we send: a file name or option a client sent is echoed clipped. */
export const MAX_ERROR_TEXT = 160;

/** `s` cut to at most `max` characters, the cut marked with "...". */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

export function errorPacket(code: number, message: string = tftpErrorMessage(code)): Buffer {
  return encodePacket({ type: 'ERROR', code, message: clip(message, MAX_ERROR_TEXT) });
}
