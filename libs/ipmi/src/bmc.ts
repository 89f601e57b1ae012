/**
 * A virtual BMC: the server side of the same codec. IPMI 2.0 / RMCP+ only, cipher suites 3 and 17
 * (never suite 0: a BMC that authenticates nothing is not offered), the chassis and app commands
 * a provisioning system uses. `ipmitool -I lanplus` drives it as it drives real hardware.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '@bm/core';
import {
  type CipherSuite,
  type RakpFields,
  type RakpProofs,
  type SessionKeys,
  kuid,
  rakpProofs,
  safeEqual,
  suiteOf,
  suitesById,
} from './crypto';
import {
  CHANNEL_AUTH_CAPABILITIES_V20,
  ChassisControl,
  Cmd,
  type DeviceId,
  NetFn,
  type PowerAction,
  Privilege,
  decodeBootFlags,
  encodeChassisStatus,
  encodeDeviceId,
  encodeGetBootFlagsResponse,
} from './commands';
import type { BmcMachine } from './machine';
import { type IpmiRequest, decodeRequest, encodeResponse } from './message';
import { type Packet, PayloadType, type V20Packet, decodePacket, encodeV15, encodeV20, openV20 } from './packet';
import {
  decodeOpenSessionRequest,
  decodeRakp1,
  decodeRakp3,
  encodeOpenSessionResponse,
  encodeRakp2,
  encodeRakp4,
} from './rakp';

export interface VirtualBmcOptions {
  port: number;
  address?: string;
  /** user name → password. */
  users: Record<string, string>;
  machine: BmcMachine;
  guid?: Buffer;
  deviceId?: DeviceId;
  /** An idle session is forgotten after this long (ms). */
  sessionTimeoutMs?: number;
  maxSessions?: number;
  random?: (n: number) => Buffer;
  /** Cipher suites offered (default 3 and 17); suite 0 never is. */
  cipherSuites?: (3 | 17)[];
  /** Times session idleness and half-done logins (default: the system clock). */
  clock?: Clock;
}

interface BmcSession {
  /** `address:port` of the console that opened it. */
  peer: string;
  sidm: Buffer;
  sidc: Buffer;
  suite: CipherSuite;
  state: 'opened' | 'rakp2-sent' | 'active';
  openResponse: Buffer;
  /** The RAKP 2 sent, resent as it was to a retransmitted RAKP 1. */
  rakp2?: Buffer;
  fields?: RakpFields;
  /** What both sides derive from the password and `fields` (set with RAKP 2). */
  proofs?: RakpProofs;
  /** The session's keys, once RAKP 3 has proved the console knows the password. */
  keys?: SessionKeys;
  /** The highest privilege the console asked for in RAKP 1 (what Set Session Privilege may raise to). */
  maxPrivilege: number;
  /**
   * The operating privilege: USER (CALLBACK if that is all it asked for) once active, raised by
   * Set Session Privilege Level (§22.18); what chassis commands are checked against.
   */
  privilege: number;
  outSeq: number;
  highestIn: number;
  /** Bit i set: sequence number highestIn - i was received (replay window). */
  seenMask: number;
  lastSeen: number;
}

const HALF_OPEN_TTL_MS = 10_000;
const BOOT_PARAM_NOT_SUPPORTED = 0x80;
/** Completion code: the session's privilege is too low for the command (§5.2). */
const INSUFFICIENT_PRIVILEGE = 0xd4;

export class VirtualBmc {
  private socket?: Socket;
  private readonly sessions = new Map<number, BmcSession>(); // by SIDc
  private readonly random: (n: number) => Buffer;
  private readonly guid: Buffer;
  private readonly deviceIdBytes: Buffer;
  private readonly suites: CipherSuite[];
  private readonly clock: Clock;
  private sweeper?: NodeJS.Timeout;
  /** Datagrams that were malformed, forged or for no session. */
  dropped = 0;

  constructor(readonly options: VirtualBmcOptions) {
    this.random = options.random ?? randomBytes;
    this.guid = options.guid ?? this.random(16);
    this.suites = suitesById(options.cipherSuites ?? [3, 17]);
    this.clock = options.clock ?? systemClock;
    this.deviceIdBytes = encodeDeviceId(
      options.deviceId ?? {
        deviceId: 0x20,
        deviceRevision: 1,
        firmware: '1.00',
        ipmiVersion: '2.0',
        manufacturerId: 0,
        productId: 0x6e62,
      },
    );
  }

  get port(): number {
    return this.options.port;
  }

  async start(): Promise<void> {
    const s = createSocket('udp4');
    s.on('message', (msg, rinfo) => void this.onDatagram(msg, rinfo.address, rinfo.port));
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.options.port, this.options.address ?? '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    this.options.port = s.address().port;
    this.socket = s;
    this.sweeper = setInterval(() => this.sweep(), 2000).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    const s = this.socket;
    this.socket = undefined;
    this.sessions.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Number of sessions held (opened or active). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private async onDatagram(msg: Buffer, address: string, port: number): Promise<void> {
    const reply = await this.receive(msg, `${address}:${port}`);
    if (reply) this.socket?.send(reply, port, address);
  }

  /**
   * One datagram from console `peer` (`address:port`): the reply to send, or undefined when it is
   * dropped (malformed, forged, for no session). What the socket does; tests call it with bytes.
   */
  async receive(msg: Buffer, peer: string): Promise<Buffer | undefined> {
    let reply: Buffer | undefined;
    try {
      reply = await this.handle(decodePacket(msg), peer);
    } catch {
      reply = undefined;
    }
    if (!reply) this.dropped++;
    return reply;
  }

  private async handle(p: Packet, peer: string): Promise<Buffer | undefined> {
    if (p.kind === 'v1.5') return encodeV15(this.preSession(decodeRequest(p.message)));
    if (p.payloadType === PayloadType.IPMI && p.sessionId === 0 && !p.authenticated) {
      // Sessionless RMCP+ request (ipmitool asks Get Channel Cipher Suites this way).
      return encodeV20({
        payloadType: PayloadType.IPMI,
        sessionId: 0,
        seq: 0,
        payload: this.preSession(decodeRequest(p.payload)),
      });
    }
    switch (p.payloadType) {
      case PayloadType.OPEN_SESSION_REQUEST:
        return this.openSession(p.payload, peer);
      case PayloadType.RAKP1:
        return this.rakp1(p.payload);
      case PayloadType.RAKP3:
        return this.rakp3(p.payload);
      case PayloadType.IPMI:
        return this.inSession(p);
      default:
        return undefined;
    }
  }

  // --- before a session ---------------------------------------------------------------------

  /** The commands a console may send before it has a session; returns the response message. */
  private preSession(req: IpmiRequest): Buffer {
    const respond = (cc: number, data = Buffer.alloc(0)) =>
      encodeResponse({ netFn: req.netFn + 1, cmd: req.cmd, rqSeq: req.rqSeq, cc, data });
    if (req.netFn !== NetFn.APP) return respond(0xc1);
    if (req.cmd === Cmd.GET_CHANNEL_AUTH_CAPABILITIES) return respond(0, CHANNEL_AUTH_CAPABILITIES_V20);
    if (req.cmd === Cmd.GET_CHANNEL_CIPHER_SUITES) {
      // data: channel, payload type, list index (bit 7: by cipher suite); 16 record bytes per index.
      const index = (req.data[2] ?? 0) & 0x3f;
      const records = Buffer.concat(
        this.suites.map((c) =>
          Buffer.from([0xc0, c.id, c.algorithms.auth, 0x40 | c.algorithms.integrity, 0x80 | c.algorithms.conf]),
        ),
      );
      return respond(0, Buffer.concat([Buffer.from([0x01]), records.subarray(index * 16, index * 16 + 16)]));
    }
    return respond(0xc1);
  }

  private openSession(payload: Buffer, peer: string): Buffer {
    const req = decodeOpenSessionRequest(payload);
    const fail = (status: number) =>
      encodeV20({
        payloadType: PayloadType.OPEN_SESSION_RESPONSE,
        sessionId: 0,
        seq: 0,
        payload: encodeOpenSessionResponse({ tag: req.tag, status, maxPriv: 0, sidm: req.sidm, sidc: Buffer.alloc(4) }),
      });
    // A retransmitted request (same console, same session id) gets the same answer, not a second
    // session; consoles that all use one fixed id (ipmitool does) are told apart by address.
    for (const s of this.sessions.values())
      if (s.state === 'opened' && s.peer === peer && s.sidm.equals(req.sidm)) return s.openResponse;
    const a = req.algorithms;
    const suite = suiteOf(a);
    if (!suite || !this.suites.includes(suite)) {
      if (!this.suites.some((c) => c.algorithms.auth === a.auth)) return fail(0x04);
      if (!this.suites.some((c) => c.algorithms.integrity === a.integrity)) return fail(0x05);
      if (!this.suites.some((c) => c.algorithms.conf === a.conf)) return fail(0x10);
      return fail(0x11);
    }
    if (this.sessions.size >= (this.options.maxSessions ?? 32) && !this.evictHalfOpen()) return fail(0x01);
    let sidc: Buffer;
    do sidc = this.random(4);
    while (sidc.readUInt32LE(0) === 0 || this.sessions.has(sidc.readUInt32LE(0)));
    const maxPriv = req.maxPriv === 0 ? Privilege.ADMINISTRATOR : Math.min(req.maxPriv, Privilege.ADMINISTRATOR);
    const openResponse = encodeV20({
      payloadType: PayloadType.OPEN_SESSION_RESPONSE,
      sessionId: 0,
      seq: 0,
      payload: encodeOpenSessionResponse({
        tag: req.tag,
        status: 0,
        maxPriv,
        sidm: req.sidm,
        sidc,
        algorithms: suite.algorithms,
      }),
    });
    this.sessions.set(sidc.readUInt32LE(0), {
      peer,
      sidm: req.sidm,
      sidc,
      suite,
      state: 'opened',
      openResponse,
      maxPrivilege: Privilege.USER,
      privilege: Privilege.USER,
      outSeq: 0,
      highestIn: 0,
      seenMask: 0,
      lastSeen: this.clock.now(),
    });
    return openResponse;
  }

  private rakp1(payload: Buffer): Buffer | undefined {
    const r = decodeRakp1(payload);
    const s = this.sessions.get(r.sidc.readUInt32LE(0));
    // RAKP 1 carries no proof of anything: for an established session it is ignored, or anyone
    // who saw the session id could end (or re-key) another console's session.
    if (!s || s.state === 'active') return undefined;
    const reply = (status: number, rest: { rc?: Buffer; guid?: Buffer; authCode?: Buffer } = {}) =>
      encodeV20({
        payloadType: PayloadType.RAKP2,
        sessionId: 0,
        seq: 0,
        payload: encodeRakp2({
          tag: r.tag,
          status,
          sidm: s.sidm,
          rc: rest.rc ?? Buffer.alloc(0),
          guid: rest.guid ?? Buffer.alloc(0),
          authCode: rest.authCode ?? Buffer.alloc(0),
        }),
      });
    const name = r.user.toString('utf8');
    const password = Object.hasOwn(this.options.users, name) ? this.options.users[name] : undefined;
    if (password === undefined) {
      this.sessions.delete(s.sidc.readUInt32LE(0));
      return reply(0x0d);
    }
    if ((r.role & 0x0f) > Privilege.ADMINISTRATOR) {
      this.sessions.delete(s.sidc.readUInt32LE(0));
      return reply(0x09);
    }
    if (
      s.state === 'rakp2-sent' &&
      s.rakp2 &&
      s.fields?.rm.equals(r.rm) &&
      s.fields.role === r.role &&
      s.fields.user.equals(r.user)
    ) {
      return s.rakp2; // a retransmission: the same Rc, or the console's keys would not match ours
    }
    const fields: RakpFields = {
      sidm: s.sidm,
      sidc: s.sidc,
      rm: r.rm,
      rc: this.random(16),
      guid: this.guid,
      role: r.role,
      user: r.user,
    };
    const proofs = rakpProofs(kuid(password), fields, s.suite);
    const maxPrivilege = r.role & 0x0f || Privilege.ADMINISTRATOR;
    Object.assign(s, {
      fields,
      proofs,
      state: 'rakp2-sent',
      maxPrivilege,
      privilege: Math.min(Privilege.USER, maxPrivilege),
      lastSeen: this.clock.now(),
    });
    s.rakp2 = reply(0, { rc: fields.rc, guid: fields.guid, authCode: proofs.rakp2 });
    return s.rakp2;
  }

  private rakp3(payload: Buffer): Buffer | undefined {
    const r = decodeRakp3(payload);
    const id = r.sidc.readUInt32LE(0);
    const s = this.sessions.get(id);
    if (!s || !s.proofs) return undefined;
    const reply = (status: number, icv: Buffer = Buffer.alloc(0)) =>
      encodeV20({
        payloadType: PayloadType.RAKP4,
        sessionId: 0,
        seq: 0,
        payload: encodeRakp4({ tag: r.tag, status, sidm: s.sidm, icv }),
      });
    if (s.state === 'active') {
      // The console resends RAKP 3 when our RAKP 4 was lost: the same proof gets the same answer.
      // Anything else is ignored, the session untouched (it would end another console's session).
      return r.status === 0 && safeEqual(s.proofs.rakp3, r.authCode) ? reply(0, s.proofs.rakp4) : undefined;
    }
    if (r.status !== 0) {
      this.sessions.delete(id);
      return undefined;
    }
    if (!safeEqual(s.proofs.rakp3, r.authCode)) {
      this.sessions.delete(id);
      return reply(0x0f);
    }
    s.keys = s.proofs.keys;
    s.state = 'active';
    s.lastSeen = this.clock.now();
    return reply(0, s.proofs.rakp4);
  }

  // --- inside a session ---------------------------------------------------------------------

  private async inSession(p: V20Packet): Promise<Buffer | undefined> {
    const s = this.sessions.get(p.sessionId);
    if (!s || s.state !== 'active' || !s.keys) return undefined;
    const req = decodeRequest(openV20(p, s.keys)); // throws on a bad AuthCode: dropped
    if (!this.acceptSequence(s, p.seq)) return undefined;
    s.lastSeen = this.clock.now();
    const { cc, data } = await this.dispatch(s, req);
    s.outSeq = (s.outSeq + 1) >>> 0 || 1;
    const reply = encodeV20({
      payloadType: PayloadType.IPMI,
      sessionId: s.sidm.readUInt32LE(0),
      seq: s.outSeq,
      payload: encodeResponse({
        netFn: req.netFn + 1,
        cmd: req.cmd,
        rqSeq: req.rqSeq,
        cc,
        data: data ?? Buffer.alloc(0),
      }),
      keys: s.keys,
      iv: this.random(16),
    });
    if (req.netFn === NetFn.APP && req.cmd === Cmd.CLOSE_SESSION && cc === 0)
      this.sessions.delete(req.data.readUInt32LE(0));
    return reply;
  }

  private async dispatch(s: BmcSession, req: IpmiRequest): Promise<{ cc: number; data?: Buffer }> {
    const m = this.options.machine;
    const key = `${req.netFn}:${req.cmd}`;
    switch (key) {
      case `${NetFn.APP}:${Cmd.GET_DEVICE_ID}`:
        return { cc: 0, data: this.deviceIdBytes };
      case `${NetFn.APP}:${Cmd.GET_CHANNEL_AUTH_CAPABILITIES}`:
        return { cc: 0, data: CHANNEL_AUTH_CAPABILITIES_V20 };
      case `${NetFn.APP}:${Cmd.SET_SESSION_PRIVILEGE}`: {
        const want = (req.data[0] ?? 0) & 0x0f;
        if (want > Privilege.ADMINISTRATOR || want > s.maxPrivilege) return { cc: 0x81 }; // requested level not available
        if (want !== 0) s.privilege = want; // 0: only report the present level
        return { cc: 0, data: Buffer.from([s.privilege]) };
      }
      case `${NetFn.APP}:${Cmd.CLOSE_SESSION}`:
        if (req.data.length < 4) return { cc: 0xc7 };
        return this.sessions.has(req.data.readUInt32LE(0)) ? { cc: 0 } : { cc: 0x87 }; // invalid session id
      case `${NetFn.CHASSIS}:${Cmd.GET_CHASSIS_STATUS}`:
        if (s.privilege < Privilege.USER) return { cc: INSUFFICIENT_PRIVILEGE };
        return { cc: 0, data: encodeChassisStatus(await m.isPoweredOn()) };
      case `${NetFn.CHASSIS}:${Cmd.CHASSIS_CONTROL}`: {
        if (s.privilege < Privilege.OPERATOR) return { cc: INSUFFICIENT_PRIVILEGE };
        const action = CONTROL_ACTIONS[(req.data[0] ?? 0xff) & 0x0f];
        if (req.data.length < 1 || !action) return { cc: 0xcc };
        try {
          await m.power(action);
        } catch {
          return { cc: 0xff }; // unspecified error: the machine could not do it (e.g. the VM did not start)
        }
        return { cc: 0 };
      }
      case `${NetFn.CHASSIS}:${Cmd.SET_SYSTEM_BOOT_OPTIONS}`: {
        if (s.privilege < Privilege.OPERATOR) return { cc: INSUFFICIENT_PRIVILEGE };
        const param = (req.data[0] ?? 0xff) & 0x7f;
        if (param === 0 || param === 3 || param === 4) return { cc: 0 }; // set-in-progress, valid-bit clearing, acknowledge
        if (param !== 5) return { cc: BOOT_PARAM_NOT_SUPPORTED };
        if (req.data.length < 3) return { cc: 0xc7 };
        await m.setBootFlags(decodeBootFlags(req.data[1], req.data[2]));
        return { cc: 0 };
      }
      case `${NetFn.CHASSIS}:${Cmd.GET_SYSTEM_BOOT_OPTIONS}`: {
        const param = (req.data[0] ?? 0xff) & 0x7f;
        if (param === 0) return { cc: 0, data: Buffer.from([0x01, 0x00, 0x00]) };
        if (param !== 5) return { cc: BOOT_PARAM_NOT_SUPPORTED };
        return { cc: 0, data: encodeGetBootFlagsResponse(await m.getBootFlags()) };
      }
      default:
        return { cc: 0xc1 };
    }
  }

  /**
   * Replay protection (§6.12.13): a sliding window of 16 sequence numbers below the highest seen;
   * a number older than the window, or seen before, is dropped (a replayed "power cycle" must not
   * cycle twice).
   */
  private acceptSequence(s: BmcSession, seq: number): boolean {
    if (seq === 0) return false;
    if (seq > s.highestIn) {
      const shift = seq - s.highestIn;
      s.seenMask = shift >= 32 ? 1 : ((s.seenMask << shift) | 1) >>> 0;
      s.highestIn = seq;
      return true;
    }
    const back = s.highestIn - seq;
    if (back >= 16 || (s.seenMask >>> back) & 1) return false;
    s.seenMask = (s.seenMask | (1 << back)) >>> 0;
    return true;
  }

  /** Makes room by dropping the oldest session that never finished logging in. */
  private evictHalfOpen(): boolean {
    let oldest: [number, BmcSession] | undefined;
    for (const e of this.sessions)
      if (e[1].state !== 'active' && (!oldest || e[1].lastSeen < oldest[1].lastSeen)) oldest = e;
    if (oldest) this.sessions.delete(oldest[0]);
    return oldest !== undefined;
  }

  /** Forgets idle sessions (after `sessionTimeoutMs`) and logins left half-done (after 10 s); runs every 2 s. */
  sweep(): void {
    const now = this.clock.now();
    const idle = now - (this.options.sessionTimeoutMs ?? 60_000);
    for (const [id, s] of this.sessions) {
      if (s.lastSeen < idle || (s.state !== 'active' && s.lastSeen < now - HALF_OPEN_TTL_MS)) this.sessions.delete(id);
    }
  }
}

const CONTROL_ACTIONS: Record<number, PowerAction | undefined> = {
  [ChassisControl.OFF]: 'off',
  [ChassisControl.ON]: 'on',
  [ChassisControl.CYCLE]: 'cycle',
  [ChassisControl.HARD_RESET]: 'reset',
  [ChassisControl.SOFT_OFF]: 'soft',
};
