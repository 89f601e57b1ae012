/**
 * bench:fuzz: generated inputs through every decoder that reads what the network sends us: DHCP
 * (libs/dhcp decodeDhcp and its option views), TFTP (decodePacket, then the file name's
 * confinement and the option negotiation of a request), IPMI (the RMCP/RMCP+ framing, then the
 * payload it announces: IPMI messages, Open Session, RAKP 1–4), the oslo envelope (decodeEnvelope,
 * then the request/reply/failure readers) and the deploy ramdisk's callback (parseDeployCallback).
 *
 *   npm run bench:fuzz [-- --seed 1234 --inputs 1000000 --only dhcp,tftp --hang-ms 2000]
 *
 * Inputs: input #i of decoder D is made by its own xorshift32 generator, seeded from (--seed, D, i),
 * so any single input can be made again from the three numbers (`--only D --from i --inputs 1`
 * replays it). Half are mutations (bit flips, interesting bytes, cuts, splices, insertions,
 * duplications) of the valid seeds (the captured vectors: libs/dhcp/test-fixtures/*.hex, the IPMI
 * sessions in libs/ipmi/test-fixtures/*.jsonl, the oslo messages in
 * libs/messaging/test-fixtures/oslo-wire-captured.json, and the requests the unit tests name for
 * TFTP and the callback), a third are structured (valid framing with random fields, lying lengths,
 * for JSON random values of random types in the captured messages), the rest random bytes.
 *
 * A crash is any exception other than the decoder's own error class (MalformedDhcp, TftpPacketError
 * or a TftpError from the path confinement, MalformedPacket, MalformedMessage; the callback parser
 * answers and never throws), a TFTP name confined outside the root, or a hang: an input that takes
 * longer than --hang-ms. Each decoder runs in a worker thread that publishes the index it is at; a
 * watchdog ends a worker stuck on one input. Memory: the worker's heap (after a full GC) and the
 * process's RSS at the start, once warm (after a tenth of the inputs: the JIT's code and V8's pages
 * are there by then), at the middle and at the end; growing from warm to the end by more than
 * HEAP_BOUND_MB / RSS_BOUND_MB fails.
 *
 * There is no peer program to fuzz beside ours; as in bench:scheduler the RESULT line compares with
 * the goal: ours = inputs every decoder went through without a crash (the smallest count), peer =
 * the goal (1 000 000 per decoder), ratio = ours / peer: 1.00 is the goal met, below 1 a crash.
 * Exits 1 on any crash, printing the seed, the decoder, the input's index and its bytes in hex.
 */
import { randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  MalformedDhcp,
  clientArch,
  clientId,
  decodeDhcp,
  ipxeEncapsulated,
  leaseTime,
  maxMessageSize,
  messageType,
  parameterRequestList,
  pxeVendorOptions,
  requestedIp,
  routers,
  serverId,
  subnetMask,
  userClass,
  vendorClass,
  type DhcpPacket,
} from '../../libs/dhcp/src/codec';
import { TftpError, TftpPacketError } from '../../libs/tftp/src/errors';
import { negotiateOptions } from '../../libs/tftp/src/options';
import { decodePacket as decodeTftp } from '../../libs/tftp/src/packet';
import { normalizeRequestPath } from '../../libs/tftp/src/paths';
import { MalformedPacket, decodeRequest, decodeResponse } from '../../libs/ipmi/src/message';
import { PayloadType, decodePacket as decodeIpmi } from '../../libs/ipmi/src/packet';
import {
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
} from '../../libs/ipmi/src/rakp';
import {
  MalformedMessage,
  asReply,
  asRequest,
  decodeEnvelope,
  decodeFailure,
  extractContext,
} from '../../libs/messaging/src/envelope';
import { parseDeployCallback } from '../../libs/contracts/src/deploy-callback';

const ROOT = join(__dirname, '..', '..');
const GOAL = 1_000_000;
/**
 * Growth allowed from the warm sample to the end of a decoder's run. The heap after a full GC is
 * the precise measure (16 MB over 900 000 inputs: anything keeping 18 bytes per input fails). RSS
 * also moves on its own as V8 gives pages back and takes them again (up to ~95 MB either way in the
 * oslo runs, with the heap flat): its bound catches only a leak outside the heap of ~140 bytes per
 * input or more.
 */
const HEAP_BOUND_MB = 16;
const RSS_BOUND_MB = 128;

// --- inputs -------------------------------------------------------------------------------------

/** Random numbers for one input: xorshift32 seeded from (seed, decoder, index) by a 32-bit mix. */
class Rng {
  private x: number;
  constructor(seed: number, salt: number, index: number) {
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35) ^ Math.imul(index, 0x27d4eb2f);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    this.x = h | 0 || 1;
  }
  u32(): number {
    this.x ^= this.x << 13;
    this.x ^= this.x >>> 17;
    this.x ^= this.x << 5;
    return this.x >>> 0;
  }
  /** 0 ≤ n < max. */
  int(max: number): number {
    return Math.floor((this.u32() / 4294967296) * max);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const INTERESTING = [0, 1, 2, 0x06, 0x07, 0x10, 0x12, 0x13, 0x14, 0x15, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff];

/** 1–8 byte-level mutations of `src`. */
function mutate(r: Rng, src: Buffer, extra: readonly number[] = []): Buffer {
  let b = Buffer.from(src);
  const n = 1 + r.int(8);
  for (let i = 0; i < n; i++) {
    const at = r.int(Math.max(b.length, 1));
    const k = r.int(10);
    if (k === 0 && b.length) b[at] ^= 1 << r.int(8);
    else if (k === 1 && b.length) b[at] = r.chance(0.5) ? r.pick(INTERESTING) : extra.length ? r.pick(extra) : 0;
    else if (k === 2 && b.length) b[at] = r.int(256);
    else if (k === 3) b = b.subarray(0, r.int(b.length + 1));
    else if (k === 4) b = Buffer.concat([b, r.bytes(r.int(40))]);
    else if (k === 5) b = Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(4)), b.subarray(at)]);
    else if (k === 6) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r.int(8))]);
    else if (k === 7 && b.length > 1) {
      // A 16-bit field at a random place set to an edge value (lengths, sizes, block numbers).
      b.writeUInt16BE(
        r.pick([0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff, b.length, b.length + 1]) & 0xffff,
        at % (b.length - 1),
      );
    } else if (k === 8 && b.length) {
      const from = r.int(b.length);
      b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + 1 + r.int(32)), b.subarray(at)]);
    } else if (b.length) b = Buffer.concat([b.subarray(at), b.subarray(0, at)]);
  }
  return b;
}

/** One decoder under test: its seeds, how it makes structured inputs, and one input's run. */
interface Target {
  name: string;
  seeds: () => Buffer[];
  /** A well-formed frame with random contents. */
  structured: (r: Rng, seeds: Buffer[]) => Buffer;
  /** Bytes the mutator likes for this format (delimiters, opcodes). */
  extra?: number[];
  /** Random inputs up to this size. */
  maxRandom: number;
  /**
   * Runs one input; throws only for a crash (the decoder's own errors are caught here). True when
   * the input was accepted all the way: the share accepted shows the generators get past the checks.
   */
  run: (input: Buffer) => boolean;
}

const hexLines = (file: string) =>
  Buffer.from(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('')
      .trim(),
    'hex',
  );

// DHCP ----------------------------------------------------------------------------------------------

const DHCP_VIEWS: ((p: DhcpPacket) => unknown)[] = [
  messageType,
  requestedIp,
  serverId,
  subnetMask,
  routers,
  leaseTime,
  maxMessageSize,
  parameterRequestList,
  vendorClass,
  clientId,
  clientArch,
  userClass,
  ipxeEncapsulated,
  pxeVendorOptions,
];
const DHCP_CODES = [0, 1, 3, 6, 12, 43, 50, 51, 52, 53, 54, 55, 57, 60, 61, 66, 67, 77, 93, 94, 97, 175, 255];

const dhcp: Target = {
  name: 'dhcp',
  maxRandom: 700,
  extra: DHCP_CODES,
  seeds: () => {
    const dir = join(ROOT, 'libs/dhcp/test-fixtures');
    return readdirSync(dir)
      .filter((f) => f.endsWith('.hex'))
      .sort()
      .map((f) => hexLines(join(dir, f)));
  },
  structured: (r) => {
    const head = r.bytes(240);
    head[0] = 1 + r.int(2);
    head[1] = r.chance(0.9) ? 1 : r.int(256);
    head[2] = r.chance(0.9) ? 6 : r.int(256);
    head.writeUInt32BE(0x63825363, 236);
    if (r.chance(0.5)) head.fill(0, 44, 236);
    const parts = [head];
    for (let i = r.int(14); i > 0; i--) {
      const code = r.chance(0.5) ? r.pick(DHCP_CODES) : r.int(256);
      if (code === 0 || code === 255) parts.push(Buffer.from([code]));
      else if (code === 52) parts.push(Buffer.from([52, 1, r.int(5)]));
      else {
        const len = r.int(40);
        parts.push(Buffer.from([code, r.chance(0.05) ? r.int(256) : len]), r.bytes(len));
      }
    }
    if (r.chance(0.8)) parts.push(Buffer.from([255]));
    return Buffer.concat(parts);
  },
  run: (input) => {
    let p: DhcpPacket;
    try {
      p = decodeDhcp(input);
    } catch (e) {
      if (e instanceof MalformedDhcp) return false;
      throw e;
    }
    for (const view of DHCP_VIEWS) {
      try {
        view(p);
      } catch (e) {
        if (!(e instanceof MalformedDhcp)) throw e;
      }
    }
    return true;
  },
};

// TFTP ----------------------------------------------------------------------------------------------

const tftpPacket = (op: number, ...strings: string[]) =>
  Buffer.concat([Buffer.from([0, op]), ...strings.map((s) => Buffer.from(`${s}\0`, 'latin1'))]);
const TFTP_NAMES = [
  'pxelinux.0',
  'pxelinux.cfg/01-52-54-00-12-34-56',
  '../etc/passwd',
  '/tftpboot/x',
  'a\\..\\..\\b',
  '.',
  '',
];
const TFTP_OPTIONS = ['blksize', 'tsize', 'timeout', 'windowsize', 'BLKSIZE', 'multicast', ''];
const TFTP_VALUES = ['0', '1', '8', '512', '1432', '65464', '65465', '99999999999999999999', '-1', '1e3', ' 1', ''];

const tftp: Target = {
  name: 'tftp',
  maxRandom: 600,
  extra: [0, 1, 2, 3, 4, 5, 6, 0x2e, 0x2f, 0x5c],
  // The requests and answers of packet.spec.ts and of the peers (iPXE, tftp-hpa, curl).
  seeds: () => [
    tftpPacket(1, 'pxelinux.0', 'octet'),
    tftpPacket(1, 'pxelinux.0', 'octet', 'tsize', '0', 'blksize', '1432'),
    tftpPacket(1, 'pxelinux.cfg/01-52-54-00-12-34-56', 'netascii', 'timeout', '5'),
    tftpPacket(1, 'deploy/kernel', 'octet', 'blksize', '65464', 'windowsize', '64', 'tsize', '0'),
    tftpPacket(2, 'upload', 'octet'),
    Buffer.from('00040001', 'hex'),
    Buffer.concat([Buffer.from('00030002', 'hex'), Buffer.from('xy')]),
    tftpPacket(5, '\u0000\u0001File not found'),
    tftpPacket(6, 'blksize', '1432', 'tsize', '42137'),
  ],
  structured: (r) => {
    const op = r.chance(0.9) ? 1 + r.int(6) : r.int(65536);
    const strings: string[] = [];
    if (op === 1 || op === 2) strings.push(r.pick(TFTP_NAMES), r.pick(['octet', 'netascii', 'OCTET', 'mail', '']));
    for (let i = r.int(8); i > 0; i--)
      strings.push(r.chance(0.8) ? r.pick(TFTP_OPTIONS) : r.bytes(r.int(8)).toString('latin1'));
    for (let i = 0; i < strings.length; i++) if (r.chance(0.3)) strings[i] = r.pick(TFTP_VALUES);
    const b = Buffer.concat([
      Buffer.from([op >> 8, op & 0xff]),
      ...strings.map((s) => Buffer.from(`${s}\0`, 'latin1')),
    ]);
    return r.chance(0.1) ? b.subarray(0, b.length - 1) : b;
  },
  run: (input) => {
    let p: ReturnType<typeof decodeTftp>;
    try {
      p = decodeTftp(input);
    } catch (e) {
      if (e instanceof TftpPacketError) return false;
      throw e;
    }
    if (p.type !== 'RRQ' && p.type !== 'WRQ') return true;
    try {
      const name = normalizeRequestPath(p.filename, ['/tftpboot']);
      if (name.startsWith('/') || name.split('/').some((s) => s === '..' || s === '.' || s === ''))
        throw new Error(`file name ${JSON.stringify(p.filename)} confined to ${JSON.stringify(name)}`);
    } catch (e) {
      if (!(e instanceof TftpError)) throw e;
    }
    negotiateOptions(p.options, { mode: p.mode, fileSize: 42_137 });
    return true;
  },
};

// IPMI ----------------------------------------------------------------------------------------------

const ipmi: Target = {
  name: 'ipmi',
  maxRandom: 200,
  extra: [0x06, 0x07, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x40, 0x80, 0xc0],
  seeds: () => {
    const dir = join(ROOT, 'libs/ipmi/test-fixtures');
    return readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl') && !f.endsWith('.decoded.jsonl'))
      .sort()
      .flatMap((f) =>
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => Buffer.from((JSON.parse(l) as { hex: string }).hex, 'hex')),
      );
  },
  // RMCP+ framing with a random payload type and an honest or lying length; or IPMI 1.5.
  structured: (r) => {
    if (r.chance(0.2)) {
      const msg = r.bytes(r.int(30));
      return Buffer.concat([
        Buffer.from([6, 0, 0xff, 7, 0]),
        r.bytes(8),
        Buffer.from([r.chance(0.8) ? msg.length : r.int(256)]),
        msg,
      ]);
    }
    const pt = (r.chance(0.7) ? r.pick([0, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 2]) : r.int(64)) | (r.int(4) << 6);
    const payload = r.bytes(r.pick([0, 8, 28, 32, 36, 40, 44, 60]) + r.int(8));
    if (payload.length > 27 && r.chance(0.5)) payload[27] = r.int(20);
    const len = Buffer.alloc(2);
    len.writeUInt16LE(r.chance(0.85) ? payload.length : r.int(65536));
    const oem = (pt & 0x3f) === 2 ? r.bytes(6) : Buffer.alloc(0);
    return Buffer.concat([Buffer.from([6, 0, 0xff, 7, 6, pt]), oem, r.bytes(8), len, payload, r.bytes(r.int(24))]);
  },
  run: (input) => {
    try {
      const p = decodeIpmi(input);
      if (p.kind === 'v1.5') {
        decodeRequest(p.message);
        return true;
      }
      if (p.encrypted) return true; // opened only with the session's keys
      switch (p.payloadType) {
        case PayloadType.IPMI:
          try {
            decodeRequest(p.payload);
          } catch (e) {
            if (!(e instanceof MalformedPacket)) throw e;
          }
          decodeResponse(p.payload);
          break;
        case PayloadType.OPEN_SESSION_REQUEST:
          decodeOpenSessionRequest(p.payload);
          break;
        case PayloadType.OPEN_SESSION_RESPONSE:
          decodeOpenSessionResponse(p.payload);
          break;
        case PayloadType.RAKP1:
          decodeRakp1(p.payload);
          break;
        case PayloadType.RAKP2:
          decodeRakp2(p.payload);
          break;
        case PayloadType.RAKP3:
          decodeRakp3(p.payload);
          break;
        case PayloadType.RAKP4:
          decodeRakp4(p.payload);
          break;
      }
      return true;
    } catch (e) {
      if (!(e instanceof MalformedPacket)) throw e;
      return false;
    }
  },
};

// oslo envelope -------------------------------------------------------------------------------------

const OSLO_KEYS = [
  'method',
  'args',
  'version',
  'namespace',
  '_msg_id',
  '_reply_q',
  '_timeout',
  '_unique_id',
  'result',
  'failure',
  'ending',
  '_context_roles',
  '__proto__',
  'constructor',
  'oslo.version',
  'oslo.message',
];

/** A random JSON value, nested at most `depth` deep. */
function jsonValue(r: Rng, depth: number): unknown {
  switch (r.int(depth > 0 ? 9 : 7)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1e308, -0, 2 ** 53 + 1, 0.5, 4294967296, 1e10]);
    case 3:
      return r.bytes(r.int(12)).toString('latin1');
    case 4:
      return r.pick(['', 'ping', '5.0', '2.0', '1.9', 'reply_x', '{"class":"X"}', '\u0000', 'a'.repeat(300)]);
    case 5:
      return r.int(1000);
    case 6:
      return JSON.stringify({
        class: r.pick(['NoValidHost', 1, null]),
        module: 'nova.exception',
        tb: r.pick([[], 'x', [1, null]]),
        args: 1,
        kwargs: [],
      });
    case 7:
      return Array.from({ length: r.int(4) }, () => jsonValue(r, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[r.pick(OSLO_KEYS)] = jsonValue(r, depth - 1);
      return o;
    }
  }
}

const osloMessages = () => {
  const wire = JSON.parse(
    readFileSync(join(ROOT, 'libs/messaging/test-fixtures/oslo-wire-captured.json'), 'utf8'),
  ) as Record<string, unknown>;
  return Object.entries(wire)
    .filter(([k, v]) => k !== 'properties' && k !== 'envelope' && typeof v === 'object' && v !== null)
    .map(([, v]) => v as Record<string, unknown>);
};
const envelope = (m: unknown, version: unknown = '2.0') =>
  Buffer.from(JSON.stringify({ 'oslo.version': version, 'oslo.message': JSON.stringify(m) }));

const oslo: Target = {
  name: 'oslo',
  maxRandom: 300,
  extra: [0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x5c],
  // The captured messages, each as oslo sends it (2.0 envelope) and bare (v1).
  seeds: () => osloMessages().flatMap((m) => [envelope(m), Buffer.from(JSON.stringify(m))]),
  // A captured message with random keys set to random values, enveloped or bare.
  structured: (r, seeds) => {
    const base = JSON.parse(seeds[r.int(seeds.length)].toString()) as Record<string, unknown>;
    const m = (typeof base['oslo.message'] === 'string' ? JSON.parse(base['oslo.message']) : base) as Record<
      string,
      unknown
    >;
    for (let i = 1 + r.int(4); i > 0; i--) m[r.pick(OSLO_KEYS)] = jsonValue(r, 3);
    const k = r.int(10);
    if (k < 6) return envelope(m);
    if (k < 7) return envelope(m, jsonValue(r, 1));
    if (k < 8) return Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': jsonValue(r, 2) }));
    return Buffer.from(JSON.stringify(r.chance(0.8) ? m : jsonValue(r, 3)));
  },
  run: (input) => {
    try {
      const m = decodeEnvelope(input);
      extractContext(m);
      try {
        asRequest(m);
      } catch (e) {
        if (!(e instanceof MalformedMessage)) throw e;
      }
      const reply = asReply(m);
      if (reply.failure !== null) decodeFailure(reply.failure);
      return true;
    } catch (e) {
      if (!(e instanceof MalformedMessage)) throw e;
      return false;
    }
  },
};

// The deploy ramdisk's callback -----------------------------------------------------------------------

const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const IQN = 'iqn-6f2a2e4c-3d1b-4c8e-9a51-0b7c2d9e8f10';
const FORM = 'application/x-www-form-urlencoded';
const CALLBACK_PARTS = [
  'i',
  'k',
  'a',
  'n',
  'p',
  'l',
  'e',
  '=',
  '&',
  '%',
  '%2',
  '%41',
  '%e2%82',
  '%C3%A9',
  '+',
  ';',
  '%00',
  '%0a',
];

const callback: Target = {
  name: 'callback',
  maxRandom: 300,
  extra: [0x26, 0x3d, 0x25, 0x2b, 0x3b],
  // diskimage-builder's body (with and without the empty e), the G body, and a full one.
  seeds: () =>
    [
      `i=1&k=${KEY}&a=10.0.0.5&n=${IQN}&e=`,
      `i=1&k=${KEY}&a=10.0.0.5&n=${IQN}`,
      `i=2147483647&k=${KEY}&a=192.168.1.20&n=iqn.2010-10.org.openstack:node-7&p=3260&l=1&e=No+disk+found+in+%2Fproc%2Fpartitions%2E+a=b;c`,
    ].map((s) => Buffer.from(s, 'latin1')),
  structured: (r) => {
    const parts: string[] = [];
    for (let i = r.int(10); i > 0; i--) {
      const name = r.chance(0.8) ? r.pick(['i', 'k', 'a', 'n', 'p', 'l', 'e']) : r.pick(CALLBACK_PARTS);
      const value = r.chance(0.5)
        ? r.pick([
            '1',
            '0',
            '-1',
            '2147483648',
            '00001',
            KEY,
            '10.0.0.5',
            '0.0.0.0',
            '255.255.255.255',
            IQN,
            '65535',
            '256',
            '',
          ])
        : Array.from({ length: r.int(6) }, () => r.pick(CALLBACK_PARTS)).join('');
      parts.push(r.chance(0.9) ? `${name}=${value}` : name);
    }
    return Buffer.from(parts.join(r.chance(0.9) ? '&' : ';'), 'latin1');
  },
  run: (input) => {
    // Every fourth input also with another method or content type (answered without reading the body).
    const odd = input.length % 4 === 0;
    const r = parseDeployCallback({
      method: odd && input[0] & 1 ? 'GET' : 'POST',
      contentType: odd ? 'text/plain' : input.length % 3 === 0 ? undefined : FORM,
      body: input,
    });
    if (!r.ok && (typeof r.status !== 'number' || typeof r.body !== 'string'))
      throw new Error('refusal without an answer');
    return r.ok;
  },
};

const TARGETS: Target[] = [dhcp, tftp, ipmi, oslo, callback];

/** Input #index of `t` under `seed`: the same three numbers always make the same bytes. */
function inputFor(t: Target, seeds: Buffer[], seed: number, index: number): Buffer {
  const r = new Rng(seed, TARGETS.indexOf(t), index);
  const k = r.int(6);
  if (k < 3) return mutate(r, r.pick(seeds), t.extra);
  if (k < 5) return r.chance(0.3) ? mutate(r, t.structured(r, seeds), t.extra) : t.structured(r, seeds);
  return r.bytes(r.int(t.maxRandom));
}

// --- one decoder's run (a worker thread) ----------------------------------------------------------

interface Job {
  target: string;
  seed: number;
  from: number;
  inputs: number;
  hangMs: number;
  /** [0] = the index being decoded, [1] = 1 once the worker has loaded and started: for the watchdog. */
  at: SharedArrayBuffer;
}

interface Memory {
  heapMB: number;
  rssMB: number;
}

type Outcome =
  | { ok: true; inputs: number; accepted: number; seconds: number; maxInputMs: number; memory: Memory[] }
  | { ok: false; index: number; error: string };

function runJob(job: Job): Outcome {
  const t = TARGETS.find((x) => x.name === job.target)!;
  const seeds = t.seeds();
  const at = new Int32Array(job.at);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const sample = (): Memory => {
    gc();
    const m = process.memoryUsage();
    return { heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 };
  };
  const memory = [sample()];
  const end = job.from + job.inputs;
  const warm = job.from + Math.floor(job.inputs / 10);
  const middle = job.from + Math.floor(job.inputs / 2);
  let maxInputMs = 0;
  let accepted = 0;
  const started = performance.now();
  Atomics.store(at, 1, 1);
  for (let i = job.from; i < end; i++) {
    if (i === warm || i === middle) memory.push(sample());
    const input = inputFor(t, seeds, job.seed, i);
    Atomics.store(at, 0, i);
    const t0 = performance.now();
    try {
      if (t.run(input)) accepted++;
    } catch (e) {
      return { ok: false, index: i, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    const took = performance.now() - t0;
    if (took > maxInputMs) maxInputMs = took;
    if (took > job.hangMs) return { ok: false, index: i, error: `hang: one input took ${took.toFixed(0)} ms` };
  }
  const seconds = (performance.now() - started) / 1000;
  memory.push(sample());
  return { ok: true, inputs: job.inputs, accepted, seconds, maxInputMs, memory };
}

/** Runs `job` in a worker; ends it if it stays on one input longer than hangMs (plus a margin for GC). */
function inWorker(job: Job): Promise<Outcome> {
  const boot = `require('ts-node').register({ transpileOnly: true }); require('tsconfig-paths/register'); require(${JSON.stringify(__filename)});`;
  const worker = new Worker(boot, { eval: true, workerData: job });
  const at = new Int32Array(job.at);
  return new Promise((resolve, reject) => {
    let last = -1;
    let since = Date.now();
    const watch = setInterval(() => {
      const now = Atomics.load(at, 0);
      if (Atomics.load(at, 1) === 0 || now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > job.hangMs + 2000) {
        clearInterval(watch);
        void worker.terminate();
        resolve({ ok: false, index: now, error: `hang: no progress for ${Date.now() - since} ms (worker ended)` });
      }
    }, 250);
    worker.once('message', (o: Outcome) => {
      clearInterval(watch);
      resolve(o);
    });
    worker.once('error', (e) => {
      clearInterval(watch);
      reject(e);
    });
  });
}

// --- main -----------------------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function count(name: string, def: number): number {
  const v = Number(arg(name) ?? def);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number`);
  return v;
}

async function main(): Promise<void> {
  const seed = count('seed', randomInt(1, 2 ** 31));
  const inputs = count('inputs', GOAL);
  const from = count('from', 0);
  const hangMs = count('hang-ms', 2000);
  const only = arg('only')?.split(',');
  const targets = only ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
  if (only && targets.length !== only.length)
    throw new Error(`--only: decoders are ${TARGETS.map((t) => t.name).join(', ')}`);
  console.log(
    `bench:fuzz seed=${seed} inputs=${inputs} per decoder (from #${from}), hang = one input over ${hangMs} ms`,
  );
  console.log(`reproduce: npm run bench:fuzz -- --seed ${seed} --inputs ${inputs}${from ? ` --from ${from}` : ''}`);
  console.log(
    'decoder     inputs  accepted  seconds  inputs/s  max ms/input  heap MB start/warm/mid/end  RSS MB start/warm/mid/end',
  );

  let failed = false;
  let clean = Infinity;
  for (const t of targets) {
    const o = await inWorker({ target: t.name, seed, from, inputs, hangMs, at: new SharedArrayBuffer(8) });
    if (!o.ok) {
      failed = true;
      clean = Math.min(clean, o.index - from);
      const input = inputFor(t, t.seeds(), seed, o.index);
      console.log(`CRASH ${t.name} seed=${seed} input #${o.index} (${input.length} bytes): ${input.toString('hex')}`);
      console.log(`  replay: npm run bench:fuzz -- --seed ${seed} --only ${t.name} --from ${o.index} --inputs 1`);
      console.log(`  ${o.error.split('\n').slice(0, 6).join('\n  ')}`);
      continue;
    }
    clean = Math.min(clean, o.inputs);
    const [start, warm, middle, end] = o.memory;
    const heapGrowth = end.heapMB - warm.heapMB;
    const rssGrowth = end.rssMB - warm.rssMB;
    const mb = (f: (m: Memory) => number, digits: number) =>
      [start, warm, middle, end].map((m) => f(m).toFixed(digits)).join('/');
    console.log(
      [
        t.name.padEnd(8),
        String(o.inputs).padStart(8),
        `${((100 * o.accepted) / o.inputs).toFixed(0)}%`.padStart(8),
        o.seconds.toFixed(1).padStart(7),
        String(Math.round(o.inputs / o.seconds)).padStart(8),
        o.maxInputMs.toFixed(1).padStart(12),
        mb((m) => m.heapMB, 1).padStart(27),
        mb((m) => m.rssMB, 0).padStart(26),
      ].join('  '),
    );
    if (heapGrowth > HEAP_BOUND_MB || rssGrowth > RSS_BOUND_MB) {
      failed = true;
      clean = 0;
      console.log(
        `MEMORY ${t.name}: heap +${heapGrowth.toFixed(1)} MB (bound ${HEAP_BOUND_MB}), RSS +${rssGrowth.toFixed(0)} MB (bound ${RSS_BOUND_MB})`,
      );
    }
  }
  console.log(
    failed
      ? 'FAILED: see above'
      : `0 crashes, memory within bounds (heap +${HEAP_BOUND_MB} MB, RSS +${RSS_BOUND_MB} MB)`,
  );
  console.log(`RESULT fuzz ours=${clean} peer=${GOAL} ratio=${(clean / GOAL).toFixed(2)}`);
  process.exitCode = failed ? 1 : 0;
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(2);
  });
} else {
  parentPort!.postMessage(runJob(workerData as Job));
}
