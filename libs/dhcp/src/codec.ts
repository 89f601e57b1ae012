/**
 * DHCPv4 wire codec: BOOTP header (RFC 951/2131), magic cookie, options (RFC 2132) kept as raw
 * bytes in wire order, pad/end, option overload (option 52: `file`/`sname` carry options) and long
 * options split over several instances (RFC 3396). Typed views for the options the PXE responder
 * uses, including option 93 (RFC 4578), PXE vendor options (43) and iPXE's encapsulated 175.
 *
 * decodeDhcp → encodeDhcp reproduces the input byte for byte: the decoder records what the typed
 * fields cannot express (bytes after the END option, garbage after a NUL in `sname`/`file`, chaddr
 * bytes past `hlen`) in `wire`, and the encoder reuses them while the matching field is unchanged.
 * Pure functions, no I/O.
 */
import { bytesToIp, ipToBytes, ipToInt } from './ip';
import { namedError } from '@bm/core';

/** Why a datagram is not a DHCP packet we can read. */
export type MalformedReason =
  | 'truncated-header'
  | 'bad-op'
  | 'bad-hlen'
  | 'bad-cookie'
  | 'option-truncated'
  | 'bad-overload'
  | 'bad-option-length'
  | 'bad-suboption';

/** The only exception decodeDhcp and the typed option views throw on hostile or broken input. */
export class MalformedDhcp extends namedError('MalformedDhcp', 'invalid') {
  constructor(
    readonly reason: MalformedReason,
    readonly detail: string,
    readonly offset?: number,
  ) {
    super(`malformed DHCP packet (${reason}): ${detail}`);
  }
}

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP header up to (not including) the magic cookie. */
export const BOOTP_HEADER_LENGTH = 236;
/** Where the options field starts (after the cookie). */
export const OPTIONS_OFFSET = 240;
/** RFC 1542 §2.1: BOOTP messages are at least 300 bytes; some clients drop shorter replies. */
export const BOOTP_MIN_LENGTH = 300;
export const BROADCAST_FLAG = 0x8000;

const SNAME_OFFSET = 44;
const SNAME_LENGTH = 64;
const FILE_OFFSET = 108;
const FILE_LENGTH = 128;
const CHADDR_OFFSET = 28;
const CHADDR_LENGTH = 16;

export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export function messageTypeName(t: number | undefined): string {
  const names = ['BOOTP', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];
  return t === undefined ? 'BOOTP' : (names[t] ?? `type-${t}`);
}

export const DhcpOptionCode = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOST_NAME: 12,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  RELAY_AGENT_INFO: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

/** Sub-options of iPXE's encapsulated option 175 that the responder uses. */
export const IpxeSubOption = {
  /** 175.176 no-pxedhcp: 1 = do not wait for ProxyDHCP offers. */
  NO_PXEDHCP: 176,
  BUS_ID: 177,
} as const;

/** PXE 2.1 vendor sub-options carried in option 43 (when option 60 is "PXEClient"). */
export const PxeSubOption = {
  DISCOVERY_CONTROL: 6,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

/** RFC 4578 §2.1 client system architecture types (option 93) the responder distinguishes. */
export const ClientArch = {
  BIOS_X86: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
} as const;

export type OptionArea = 'options' | 'file' | 'sname';

/** One option instance as it sat on the wire. `code` 0 is a pad byte (empty data); END is never listed. */
export interface DhcpOption {
  code: number;
  data: Buffer;
  /** Where the option sits; absent means the options field. `file`/`sname` only under option 52. */
  area?: OptionArea;
}

/** What follows the last option of one area: an END option or not, then whatever bytes trail it. */
export interface AreaTail {
  end: boolean;
  trailer: Buffer;
}

/** Details decodeDhcp records so that encodeDhcp reproduces the input exactly. Leave it out of packets you build. */
export interface DhcpWire {
  /** The whole 16-byte chaddr field, including bytes past hlen, and the hlen it was read with. */
  chaddr: Buffer;
  hlen: number;
  /** The whole 64-byte sname and 128-byte file fields. */
  sname: Buffer;
  file: Buffer;
  options: AreaTail;
  fileArea?: AreaTail;
  snameArea?: AreaTail;
}

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  /** Bit 15 (0x8000) is the broadcast flag; the rest is reserved but kept. */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The client hardware address: the first `hlen` bytes of the chaddr field. */
  chaddr: Buffer;
  /** Server host name field up to its first NUL (latin1); '' when it carries options (overload). */
  sname: string;
  /** Boot file name field up to its first NUL (latin1); '' when it carries options (overload). */
  file: string;
  /** Every option instance in wire order: options field, then file, then sname (RFC 3396 §6). */
  options: DhcpOption[];
  wire?: DhcpWire;
}

const EMPTY = Buffer.alloc(0);

function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul < 0 ? field.length : nul);
}

function parseArea(b: Buffer, start: number, end: number, area: OptionArea, out: DhcpOption[]): AreaTail {
  let i = start;
  while (i < end) {
    const code = b[i];
    if (code === DhcpOptionCode.PAD) {
      out.push(area === 'options' ? { code: 0, data: EMPTY } : { code: 0, data: EMPTY, area });
      i += 1;
      continue;
    }
    if (code === DhcpOptionCode.END) return { end: true, trailer: b.subarray(i + 1, end) };
    if (i + 1 >= end)
      throw new MalformedDhcp(
        'option-truncated',
        `option ${code} at offset ${i} of the ${area} area has no length byte`,
        i,
      );
    const len = b[i + 1];
    if (i + 2 + len > end) {
      throw new MalformedDhcp(
        'option-truncated',
        `option ${code} at offset ${i} of the ${area} area: length ${len} runs past the end`,
        i,
      );
    }
    const data = b.subarray(i + 2, i + 2 + len);
    out.push(area === 'options' ? { code, data } : { code, data, area });
    i += 2 + len;
  }
  return { end: false, trailer: EMPTY };
}

/** Option 52 from the options field only (it never applies from inside file/sname): 0 when absent. */
function overloadOf(options: DhcpOption[], onError: (detail: string) => never): number {
  const parts = options.filter((o) => o.code === DhcpOptionCode.OVERLOAD && (o.area ?? 'options') === 'options');
  if (parts.length === 0) return 0;
  const v = Buffer.concat(parts.map((o) => o.data));
  if (v.length !== 1) onError(`option 52 (overload) must be 1 byte, is ${v.length}`);
  if (v[0] < 1 || v[0] > 3) onError(`option 52 (overload) value ${v[0]} is not 1, 2 or 3`);
  return v[0];
}

/** Parse one UDP payload. Throws MalformedDhcp (and nothing else) when it is not a readable DHCP packet. */
export function decodeDhcp(input: Uint8Array): DhcpPacket {
  if (input.length < OPTIONS_OFFSET) {
    throw new MalformedDhcp(
      'truncated-header',
      `${input.length} bytes, a DHCP packet needs at least ${OPTIONS_OFFSET}`,
    );
  }
  const b = Buffer.from(input); // one private copy: returned buffers are views into it
  const op = b[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY)
    throw new MalformedDhcp('bad-op', `op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`, 0);
  const hlen = b[2];
  if (hlen > CHADDR_LENGTH) throw new MalformedDhcp('bad-hlen', `hlen ${hlen} exceeds the 16-byte chaddr field`, 2);
  const cookie = b.readUInt32BE(BOOTP_HEADER_LENGTH);
  if (cookie !== DHCP_MAGIC_COOKIE) {
    throw new MalformedDhcp(
      'bad-cookie',
      `magic cookie 0x${cookie.toString(16).padStart(8, '0')}, expected 0x63825363`,
      BOOTP_HEADER_LENGTH,
    );
  }
  const options: DhcpOption[] = [];
  const optionsTail = parseArea(b, OPTIONS_OFFSET, b.length, 'options', options);
  const overload = overloadOf(options, (detail) => {
    throw new MalformedDhcp('bad-overload', detail);
  });
  const snameField = b.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH);
  const fileField = b.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH);
  const wire: DhcpWire = {
    chaddr: b.subarray(CHADDR_OFFSET, CHADDR_OFFSET + CHADDR_LENGTH),
    hlen,
    sname: snameField,
    file: fileField,
    options: optionsTail,
  };
  if (overload & 1) wire.fileArea = parseArea(b, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, 'file', options);
  if (overload & 2) wire.snameArea = parseArea(b, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, 'sname', options);
  return {
    op,
    htype: b[1],
    hlen,
    hops: b[3],
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: bytesToIp(b, 12),
    yiaddr: bytesToIp(b, 16),
    siaddr: bytesToIp(b, 20),
    giaddr: bytesToIp(b, 24),
    chaddr: b.subarray(CHADDR_OFFSET, CHADDR_OFFSET + hlen),
    sname: overload & 2 ? '' : cString(snameField),
    file: overload & 1 ? '' : cString(fileField),
    options,
    wire,
  };
}

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} is not an integer in 0..${max}`);
}

/** Bytes the options take on the wire, data longer than 255 bytes split into several instances (RFC 3396). */
function optionsLength(list: DhcpOption[]): number {
  let n = 0;
  for (const o of list) {
    checkInt('option code', o.code, 254);
    if (o.code === DhcpOptionCode.PAD) {
      if (o.data.length !== 0) throw new RangeError('a pad option (code 0) carries no data');
      n += 1;
    } else {
      n += o.data.length + 2 * Math.max(1, Math.ceil(o.data.length / 255));
    }
  }
  return n;
}

/** Write options at `at` (space already checked with optionsLength); returns the offset after them. */
function writeOptions(list: DhcpOption[], out: Buffer, at: number): number {
  for (const o of list) {
    if (o.code === DhcpOptionCode.PAD) {
      out[at++] = 0;
      continue;
    }
    // A zero-length option is still one instance; longer data is split into ≤255-byte instances.
    let off = 0;
    do {
      const len = Math.min(255, o.data.length - off);
      out[at] = o.code;
      out[at + 1] = len;
      o.data.copy(out, at + 2, off, off + len);
      at += 2 + len;
      off += 255;
    } while (off < o.data.length);
  }
  return at;
}

function encodeFixedArea(
  name: OptionArea,
  list: DhcpOption[],
  out: Buffer,
  at: number,
  size: number,
  tail: AreaTail | undefined,
): void {
  const end = tail?.end ?? true;
  const used = optionsLength(list) + (end ? 1 : 0);
  if (used > size) throw new RangeError(`options placed in ${name} need ${used} bytes, the field has ${size}`);
  const after = writeOptions(list, out, at);
  if (end) out[after] = DhcpOptionCode.END;
  tail?.trailer.copy(out, at + used, 0, Math.min(tail.trailer.length, size - used));
}

function encodeTextField(
  name: string,
  text: string,
  out: Buffer,
  at: number,
  size: number,
  raw: Buffer | undefined,
): void {
  if (raw && raw.length === size && cString(raw) === text) {
    raw.copy(out, at);
    return;
  }
  if (Buffer.byteLength(text, 'latin1') > size)
    throw new RangeError(`${name} is ${Buffer.byteLength(text, 'latin1')} bytes, the field holds ${size}`);
  out.write(text, at, size, 'latin1');
}

export interface EncodeOptions {
  /** Zero-pad the packet to at least this many bytes (default 300, RFC 1542) unless `wire` dictates the layout. */
  minLength?: number;
}

/** Serialise a packet. Throws RangeError for values that do not fit the wire format (a programming error). */
export function encodeDhcp(p: DhcpPacket, opts: EncodeOptions = {}): Buffer {
  checkInt('op', p.op, 0xff);
  checkInt('htype', p.htype, 0xff);
  checkInt('hlen', p.hlen, 0xff);
  checkInt('hops', p.hops, 0xff);
  checkInt('xid', p.xid, 0xffffffff);
  checkInt('secs', p.secs, 0xffff);
  checkInt('flags', p.flags, 0xffff);
  if (p.chaddr.length > CHADDR_LENGTH) throw new RangeError(`chaddr is ${p.chaddr.length} bytes, the field holds 16`);

  const inArea = (a: OptionArea) => p.options.filter((o) => (o.area ?? 'options') === a);
  const overload = overloadOf(inArea('options'), (detail) => {
    throw new RangeError(detail);
  });
  for (const a of ['file', 'sname'] as const) {
    const bit = a === 'file' ? 1 : 2;
    if (!(overload & bit) && inArea(a).length > 0)
      throw new RangeError(`options placed in ${a} need option 52 with bit ${bit} set`);
  }

  const w = p.wire;
  const main = inArea('options');
  const tail = w?.options ?? { end: true, trailer: EMPTY };
  const bodyEnd = OPTIONS_OFFSET + optionsLength(main);
  const natural = bodyEnd + (tail.end ? 1 + tail.trailer.length : 0);
  const min = w ? 0 : (opts.minLength ?? BOOTP_MIN_LENGTH);
  const out = Buffer.alloc(Math.max(natural, min));
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid, 4);
  out.writeUInt16BE(p.secs, 8);
  out.writeUInt16BE(p.flags, 10);
  out.writeUInt32BE(ipToInt(p.ciaddr), 12);
  out.writeUInt32BE(ipToInt(p.yiaddr), 16);
  out.writeUInt32BE(ipToInt(p.siaddr), 20);
  out.writeUInt32BE(ipToInt(p.giaddr), 24);
  if (
    w &&
    w.chaddr.length === CHADDR_LENGTH &&
    p.chaddr.length === w.hlen &&
    w.chaddr.subarray(0, w.hlen).equals(p.chaddr)
  )
    w.chaddr.copy(out, CHADDR_OFFSET);
  else p.chaddr.copy(out, CHADDR_OFFSET);
  if (overload & 2) encodeFixedArea('sname', inArea('sname'), out, SNAME_OFFSET, SNAME_LENGTH, w?.snameArea);
  else encodeTextField('sname', p.sname, out, SNAME_OFFSET, SNAME_LENGTH, w?.sname);
  if (overload & 1) encodeFixedArea('file', inArea('file'), out, FILE_OFFSET, FILE_LENGTH, w?.fileArea);
  else encodeTextField('file', p.file, out, FILE_OFFSET, FILE_LENGTH, w?.file);
  out.writeUInt32BE(DHCP_MAGIC_COOKIE, BOOTP_HEADER_LENGTH);
  writeOptions(main, out, OPTIONS_OFFSET);
  if (tail.end) {
    out[bodyEnd] = DhcpOptionCode.END;
    tail.trailer.copy(out, bodyEnd + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Option access and typed views
// ---------------------------------------------------------------------------------------------

/** The option's value: all instances of `code` concatenated in wire order (RFC 3396), or undefined when absent. */
export function getOption(p: Pick<DhcpPacket, 'options'>, code: number): Buffer | undefined {
  if (code === DhcpOptionCode.PAD || code === DhcpOptionCode.END) return undefined;
  const parts = p.options.filter((o) => o.code === code);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0].data : Buffer.concat(parts.map((o) => o.data));
}

export function hasOption(p: Pick<DhcpPacket, 'options'>, code: number): boolean {
  return p.options.some((o) => o.code === code);
}

function fixed(p: Pick<DhcpPacket, 'options'>, code: number, len: number): Buffer | undefined {
  const v = getOption(p, code);
  if (v !== undefined && v.length !== len)
    throw new MalformedDhcp('bad-option-length', `option ${code} must be ${len} bytes, is ${v.length}`);
  return v;
}

function ipOption(p: Pick<DhcpPacket, 'options'>, code: number): string | undefined {
  const v = fixed(p, code, 4);
  return v && bytesToIp(v);
}

function ipListOption(p: Pick<DhcpPacket, 'options'>, code: number): string[] {
  const v = getOption(p, code);
  if (v === undefined) return [];
  if (v.length === 0 || v.length % 4 !== 0)
    throw new MalformedDhcp(
      'bad-option-length',
      `option ${code} must be a non-empty multiple of 4 bytes, is ${v.length}`,
    );
  const out: string[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(bytesToIp(v, i));
  return out;
}

function textOption(p: Pick<DhcpPacket, 'options'>, code: number): string | undefined {
  return getOption(p, code)?.toString('latin1');
}

type Opts = Pick<DhcpPacket, 'options'>;

/** Option 53, DHCP message type (1 DISCOVER … 8 INFORM); undefined for plain BOOTP. */
export const messageType = (p: Opts): number | undefined => fixed(p, DhcpOptionCode.MESSAGE_TYPE, 1)?.[0];
/** Option 50. */
export const requestedIp = (p: Opts): string | undefined => ipOption(p, DhcpOptionCode.REQUESTED_IP);
/** Option 54. */
export const serverId = (p: Opts): string | undefined => ipOption(p, DhcpOptionCode.SERVER_ID);
/** Option 1. */
export const subnetMask = (p: Opts): string | undefined => ipOption(p, DhcpOptionCode.SUBNET_MASK);
/** Option 3 (a list, in preference order). */
export const routers = (p: Opts): string[] => ipListOption(p, DhcpOptionCode.ROUTER);
/** Option 51, seconds. */
export const leaseTime = (p: Opts): number | undefined => fixed(p, DhcpOptionCode.LEASE_TIME, 4)?.readUInt32BE(0);
/** Option 57. */
export const maxMessageSize = (p: Opts): number | undefined =>
  fixed(p, DhcpOptionCode.MAX_MESSAGE_SIZE, 2)?.readUInt16BE(0);
/** Option 55: the option codes the client asks for, in its order. */
export const parameterRequestList = (p: Opts): number[] => [
  ...(getOption(p, DhcpOptionCode.PARAMETER_REQUEST_LIST) ?? []),
];
/** Option 60, e.g. `PXEClient:Arch:00000:UNDI:002001`. */
export const vendorClass = (p: Opts): string | undefined => textOption(p, DhcpOptionCode.VENDOR_CLASS);
/** Option 61, raw (type byte + identifier). */
export const clientId = (p: Opts): Buffer | undefined => getOption(p, DhcpOptionCode.CLIENT_ID);
/** Option 66 (text; often a dotted quad). */
export const tftpServerName = (p: Opts): string | undefined => textOption(p, DhcpOptionCode.TFTP_SERVER_NAME);
/** Option 67. */
export const bootfileName = (p: Opts): string | undefined => textOption(p, DhcpOptionCode.BOOTFILE_NAME);
/** Option 97, PXE client machine identifier (type byte 0 + 16-byte UUID), raw. */
export const clientUuid = (p: Opts): Buffer | undefined => getOption(p, DhcpOptionCode.CLIENT_UUID);

/** Option 93 (RFC 4578): the client's architecture types, 16 bits each (0 BIOS x86, 6 EFI IA32, 7/9 EFI x64, …). */
export function clientArch(p: Opts): number[] {
  const v = getOption(p, DhcpOptionCode.CLIENT_ARCH);
  if (v === undefined) return [];
  if (v.length === 0 || v.length % 2 !== 0)
    throw new MalformedDhcp('bad-option-length', `option 93 must be a non-empty multiple of 2 bytes, is ${v.length}`);
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

/**
 * Option 77. RFC 3004 encodes a list of length-prefixed class names; iPXE, many PXE ROMs and dhclient
 * send one bare string instead. The RFC 3004 reading is used when it consumes the data exactly.
 */
export function userClass(p: Opts): string[] {
  const v = getOption(p, DhcpOptionCode.USER_CLASS);
  if (v === undefined) return [];
  const out: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i];
    if (len === 0 || i + 1 + len > v.length) return [v.toString('latin1')];
    out.push(v.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return out.length > 0 ? out : [v.toString('latin1')];
}

/** Sub-options of an encapsulated option (43, 175, 82 …): pads skipped, stops at END. */
export function parseSubOptions(data: Buffer, parent = 0): DhcpOption[] {
  const out: DhcpOption[] = [];
  let i = 0;
  while (i < data.length) {
    const code = data[i];
    if (code === DhcpOptionCode.PAD) {
      i += 1;
      continue;
    }
    if (code === DhcpOptionCode.END) break;
    if (i + 1 >= data.length || i + 2 + data[i + 1] > data.length) {
      throw new MalformedDhcp(
        'bad-suboption',
        `sub-option ${code} of option ${parent} at offset ${i} runs past the end`,
        i,
      );
    }
    out.push({ code, data: data.subarray(i + 2, i + 2 + data[i + 1]) });
    i += 2 + data[i + 1];
  }
  return out;
}

/** Option 43 as sub-options (meaningful when option 60 names the vendor, e.g. PXEClient). */
export function vendorSpecific(p: Opts): DhcpOption[] | undefined {
  const v = getOption(p, DhcpOptionCode.VENDOR_SPECIFIC);
  return v && parseSubOptions(v, DhcpOptionCode.VENDOR_SPECIFIC);
}

export interface PxeVendorOptions {
  /** Sub-option 6, PXE_DISCOVERY_CONTROL bits (8 = use the boot file, no boot-server discovery). */
  discoveryControl?: number;
  /** Every sub-option, raw. */
  all: DhcpOption[];
}

/** Option 43 read as PXE 2.1 vendor options. */
export function pxeVendorOptions(p: Opts): PxeVendorOptions | undefined {
  const all = vendorSpecific(p);
  if (!all) return undefined;
  const dc = all.find((o) => o.code === PxeSubOption.DISCOVERY_CONTROL);
  if (dc && dc.data.length !== 1)
    throw new MalformedDhcp('bad-suboption', `PXE sub-option 6 must be 1 byte, is ${dc.data.length}`);
  return dc ? { discoveryControl: dc.data[0], all } : { all };
}

/** Option 175 (iPXE encapsulated options: feature flags, 176 no-pxedhcp, 177 bus id …) as sub-options. */
export function ipxeEncapsulated(p: Opts): DhcpOption[] | undefined {
  const v = getOption(p, DhcpOptionCode.IPXE_ENCAP);
  return v && parseSubOptions(v, DhcpOptionCode.IPXE_ENCAP);
}

/** Client hardware address as lower-case colon-separated hex (`52:54:00:77:00:20`). */
export function macOf(p: Pick<DhcpPacket, 'chaddr'>): string {
  return [...p.chaddr].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function isBroadcast(p: Pick<DhcpPacket, 'flags'>): boolean {
  return (p.flags & BROADCAST_FLAG) !== 0;
}

// ---------------------------------------------------------------------------------------------
// Option builders
// ---------------------------------------------------------------------------------------------

/** Build option instances; data longer than 255 bytes is split by encodeDhcp (RFC 3396). */
export const option = {
  raw: (code: number, data: Uint8Array | readonly number[]): DhcpOption => ({
    code,
    data: data instanceof Uint8Array ? Buffer.from(data) : Buffer.from(data),
  }),
  u8: (code: number, v: number): DhcpOption => ({ code, data: Buffer.from([v]) }),
  u16: (code: number, v: number): DhcpOption => {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(v);
    return { code, data };
  },
  u32: (code: number, v: number): DhcpOption => {
    const data = Buffer.alloc(4);
    data.writeUInt32BE(v);
    return { code, data };
  },
  ip: (code: number, ip: string): DhcpOption => ({ code, data: ipToBytes(ip) }),
  ips: (code: number, ips: string[]): DhcpOption => ({ code, data: Buffer.concat(ips.map(ipToBytes)) }),
  text: (code: number, s: string): DhcpOption => ({ code, data: Buffer.from(s, 'latin1') }),
  /** Encapsulated sub-options (each ≤255 bytes), optionally followed by an END byte (PXE option 43 wants one). */
  encap: (code: number, subs: DhcpOption[], end = false): DhcpOption => {
    const parts = subs.map((s) => {
      if (s.data.length > 255) throw new RangeError(`sub-option ${s.code} of option ${code} is longer than 255 bytes`);
      return Buffer.concat([Buffer.from([s.code, s.data.length]), s.data]);
    });
    if (end) parts.push(Buffer.from([DhcpOptionCode.END]));
    return { code, data: Buffer.concat(parts) };
  },
};
