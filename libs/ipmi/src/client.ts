/**
 * A native, asynchronous IPMI 2.0 (RMCP+, cipher suites 17 and 3) client: one UDP socket for
 * every BMC, one session per BMC kept and reused, one command in flight per BMC (with an optional
 * minimum interval), retransmission with backoff, and a deadline on every operation. A dead BMC
 * costs its callers their deadline and nobody else anything.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type Clock, systemClock, setClockTimeout } from '@bm/core';
import { type CipherSuite, type SessionKeys, kuid, rakpProofs, safeEqual, suiteOf, suitesById } from './crypto';
import {
  type BootDevice,
  type BootFlags,
  type ChassisStatus,
  Cmd,
  type DeviceId,
  GET_BOOT_FLAGS_REQUEST,
  NetFn,
  POWER_ACTION,
  type PowerAction,
  Privilege,
  encodeSetBootFlags,
  parseChassisStatus,
  parseDeviceId,
  parseGetBootFlags,
  supportsIpmi20,
} from './commands';
import { BmcAuthenticationFailed, BmcCommandFailed, BmcSessionRefused, BmcUnreachable, IpmiError } from './errors';
import { type IpmiResponse, decodeResponse, encodeRequest } from './message';
import { type Packet, PayloadType, type V20Packet, decodePacket, encodeV15, encodeV20, openV20 } from './packet';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
} from './rakp';

export interface BmcCredentials {
  host: string;
  port?: number;
  user: string;
  password: string;
}

/** What the client needs of a UDP socket (a real dgram socket, or a test double). */
export interface DatagramSocket {
  send(msg: Buffer, port: number, address: string, callback?: (error: Error | null) => void): void;
  on(event: 'message', listener: (msg: Buffer, rinfo: { address: string; port: number }) => void): unknown;
  close(): void;
}

export interface IpmiClientOptions {
  socket?: DatagramSocket;
  /** Source of randomness (session ids, RAKP nonces, AES IVs); tests inject recorded values. */
  random?: (n: number) => Buffer;
  /** Default deadline of one operation, including session setup (ms). */
  deadlineMs?: number;
  /** First retransmission timeout (ms); doubles on each retry up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Minimum time between two commands to the same BMC (ms). */
  minIntervalMs?: number;
  /** A session unused for this long is re-established before the next command (ms). */
  sessionIdleMs?: number;
  /**
   * Held sessions idle for this long get a keepalive (Get Device ID), so BMCs, which drop a
   * session after ~60 s of silence, keep it between two power-state sweeps (ms; 0 = none).
   */
  keepaliveMs?: number;
  /**
   * Logins in progress at once: a sweep of hundreds of fresh BMCs otherwise gets its replies in
   * bursts larger than a UDP receive buffer, and every dropped reply costs a retransmission.
   */
  maxConcurrentLogins?: number;
  /**
   * Cipher suites to propose, in order (default 17, then 3). What a BMC accepts is remembered,
   * so a BMC without suite 17 costs the extra round trip once. 0 is never proposed.
   */
  cipherSuites?: (3 | 17)[];
  /** Times deadlines, retransmissions, the minimum interval and session idleness (default: the system clock). */
  clock?: Clock;
}

interface Session {
  sidm: Buffer;
  sidc: number;
  keys: SessionKeys;
  seq: number;
  rqSeq: number;
  lastUsed: number;
  deviceId?: DeviceId;
}

type Match<T> = (p: Packet) => T | undefined;

interface Waiter {
  match: Match<unknown>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

const ROLE_ADMIN_NAME_ONLY = 0x10 | Privilege.ADMINISTRATOR;

/** One BMC: its session, its queue and the exchange waiting for an answer. */
class BmcLink {
  readonly key: string;
  /** The BMC's IPv4 address (its host name resolved at login): where datagrams go and come from. */
  address?: string;
  session?: Session;
  /** The credentials the held session was opened with. */
  sessionCreds?: string;
  /** The cipher suite this BMC agreed to last time. */
  suite?: CipherSuite;
  waiter?: Waiter;
  private tail: Promise<unknown> = Promise.resolve();
  private lastSent = -Infinity;

  constructor(
    public creds: Required<BmcCredentials>,
    private readonly client: IpmiClient,
  ) {
    this.key = `${creds.host}:${creds.port}`;
  }

  /** Fails the exchange in progress at once (the datagram could not even be sent). */
  fail(e: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private queued = 0;

  /** Whether operations are queued or running on this BMC. */
  get busy(): boolean {
    return this.queued > 0;
  }

  /** Runs `op` when every earlier operation on this BMC has finished. */
  enqueue<T>(op: () => Promise<T>): Promise<T> {
    this.queued++;
    const run = this.tail.then(op, op).finally(() => this.queued--);
    this.tail = run.catch(() => undefined);
    return run;
  }

  onPacket(p: Packet): void {
    const w = this.waiter;
    if (!w) return;
    const v = w.match(p);
    if (v !== undefined) {
      this.waiter = undefined;
      w.resolve(v);
    }
  }

  /**
   * Sends `build(attempt)` and waits for a packet `match` accepts, retransmitting with backoff
   * until `deadline`; then BmcUnreachable.
   */
  async exchange<T>(what: string, build: (attempt: number) => Buffer, match: Match<T>, deadline: number): Promise<T> {
    const o = this.client.options;
    const clock = this.client.clock;
    const gap = this.lastSent + o.minIntervalMs - clock.now();
    if (gap > 0) await clock.sleep(Math.min(gap, Math.max(0, deadline - clock.now())));
    let cancelTick = (): void => undefined;
    const answered = new Promise<T>((resolve, reject) => {
      this.waiter = { match, resolve: resolve as (v: unknown) => void, reject };
    });
    try {
      for (let attempt = 0, wait = o.retryMs; ; attempt++, wait = Math.min(wait * 2, o.maxRetryMs)) {
        const left = deadline - clock.now();
        if (left <= 0)
          throw new BmcUnreachable(this.key, `no answer to ${what} within the deadline (${attempt} attempts)`);
        if (attempt > 0) this.client.retransmits++;
        this.client.send(build(attempt), this);
        this.lastSent = clock.now();
        const tick = new Promise<'retry'>(
          (r) => (cancelTick = setClockTimeout(clock, Math.min(wait, left), () => r('retry'))),
        );
        const r = await Promise.race([answered, tick]);
        cancelTick();
        if (r !== 'retry') return r as T;
      }
    } finally {
      cancelTick();
      this.waiter = undefined;
    }
  }
}

export class IpmiClient {
  readonly options: Required<Omit<IpmiClientOptions, 'socket' | 'random' | 'cipherSuites' | 'clock'>>;
  readonly clock: Clock;
  private readonly suites: CipherSuite[];
  private readonly socket: DatagramSocket;
  private readonly ownSocket: boolean;
  private readonly random: (n: number) => Buffer;
  private readonly links = new Map<string, BmcLink>();
  /** The same links by `<resolved address>:<port>`, the source of their answers. */
  private readonly byPeer = new Map<string, BmcLink>();
  private loginsInProgress = 0;
  private readonly loginQueue: (() => void)[] = [];
  /** Datagrams that did not parse, or came from an unknown peer (for diagnostics). */
  dropped = 0;
  /** Sessions established since the client started (counters for the service's metrics). */
  sessionsOpened = 0;
  /** Requests sent again because no answer came in time (each retransmission counts). */
  retransmits = 0;

  constructor(opts: IpmiClientOptions = {}) {
    this.options = {
      deadlineMs: opts.deadlineMs ?? 5000,
      retryMs: opts.retryMs ?? 250,
      maxRetryMs: opts.maxRetryMs ?? 2000,
      minIntervalMs: opts.minIntervalMs ?? 0,
      sessionIdleMs: opts.sessionIdleMs ?? 90_000,
      keepaliveMs: opts.keepaliveMs ?? 20_000,
      maxConcurrentLogins: opts.maxConcurrentLogins ?? 64,
    };
    this.random = opts.random ?? randomBytes;
    this.clock = opts.clock ?? systemClock;
    this.suites = suitesById(opts.cipherSuites ?? [17, 3]);
    if (!this.suites.length) throw new RangeError('cipherSuites: choose 3 and/or 17');
    this.ownSocket = !opts.socket;
    this.socket = opts.socket ?? IpmiClient.openSocket();
    this.socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    if (this.options.keepaliveMs > 0) {
      this.keepaliveTimer = setInterval(() => this.keepalive(), Math.max(1000, this.options.keepaliveMs / 4));
      this.keepaliveTimer.unref();
    }
  }

  private keepaliveTimer?: NodeJS.Timeout;

  /** Pings held sessions that have been quiet for keepaliveMs; a session that does not answer is dropped. */
  private keepalive(): void {
    const quiet = this.clock.now() - this.options.keepaliveMs;
    for (const link of this.links.values()) {
      const s = link.session;
      if (!s || s.lastUsed > quiet || link.busy) continue;
      void link
        .enqueue(async () => {
          if (link.session !== s || s.lastUsed > quiet) return;
          try {
            const what = 'keepalive (Get Device ID)';
            await this.inSession(link, what, NetFn.APP, Cmd.GET_DEVICE_ID, Buffer.alloc(0), this.clock.now() + 2000);
          } catch {
            if (link.session === s) link.session = undefined; // the next command logs in again
          }
        })
        .catch(() => undefined);
    }
  }

  private static openSocket(): Socket {
    // A large receive buffer: replies from many BMCs arrive in bursts (the kernel caps it at
    // net.core.rmem_max).
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    s.on('error', () => undefined); // per-send errors are reported to the caller, below
    s.bind(0);
    s.unref();
    return s;
  }

  send(buf: Buffer, link: BmcLink): void {
    const { host, port } = link.creds;
    this.socket.send(buf, port, link.address ?? host, (err) => {
      // e.g. a BMC host name that does not resolve: fail now, not at the deadline.
      if (err)
        link.fail(
          new BmcUnreachable(link.key, `cannot send to it: ${(err as NodeJS.ErrnoException).code ?? err.message}`),
        );
    });
  }

  private onDatagram(msg: Buffer, rinfo: { address: string; port: number }): void {
    const link = this.byPeer.get(`${rinfo.address}:${rinfo.port}`);
    let p: Packet;
    try {
      if (!link) throw new Error('unknown peer');
      p = decodePacket(msg);
    } catch {
      this.dropped++;
      return;
    }
    link.onPacket(p);
  }

  /** The one link of a BMC (host:port); new credentials take effect at its next operation. */
  private link(c: BmcCredentials): BmcLink {
    const creds = { ...c, port: c.port ?? 623 };
    const key = `${creds.host}:${creds.port}`;
    let l = this.links.get(key);
    if (!l) {
      l = new BmcLink(creds, this);
      this.links.set(key, l);
    }
    return l;
  }

  /** Resolves the BMC's host name (at each login, so a changed DNS entry is followed). */
  private async resolve(link: BmcLink): Promise<void> {
    const { host, port } = link.creds;
    let address = host;
    if (isIP(host) !== 4) {
      try {
        address = (await lookup(host, { family: 4 })).address;
      } catch (e) {
        throw new BmcUnreachable(
          link.key,
          `cannot resolve its address: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    if (link.address) this.byPeer.delete(`${link.address}:${port}`);
    link.address = address;
    this.byPeer.set(`${address}:${port}`, link);
  }

  // --- operations ---------------------------------------------------------------------------

  async powerStatus(bmc: BmcCredentials, deadlineMs?: number): Promise<ChassisStatus> {
    return parseChassisStatus(
      await this.command(bmc, 'Get Chassis Status', NetFn.CHASSIS, Cmd.GET_CHASSIS_STATUS, Buffer.alloc(0), deadlineMs),
    );
  }

  async power(bmc: BmcCredentials, action: PowerAction, deadlineMs?: number): Promise<void> {
    const what = `Chassis Control (${action})`;
    await this.command(bmc, what, NetFn.CHASSIS, Cmd.CHASSIS_CONTROL, Buffer.from([POWER_ACTION[action]]), deadlineMs);
  }

  async setBootDevice(
    bmc: BmcCredentials,
    device: BootDevice,
    o: { persistent?: boolean; efi?: boolean } = {},
    deadlineMs?: number,
  ): Promise<void> {
    const data = encodeSetBootFlags({ device, persistent: o.persistent ?? false, efi: o.efi ?? false });
    const what = `Set System Boot Options (${device})`;
    await this.command(bmc, what, NetFn.CHASSIS, Cmd.SET_SYSTEM_BOOT_OPTIONS, data, deadlineMs);
  }

  async getBootDevice(bmc: BmcCredentials, deadlineMs?: number): Promise<BootFlags> {
    const what = 'Get System Boot Options';
    return parseGetBootFlags(
      await this.command(bmc, what, NetFn.CHASSIS, Cmd.GET_SYSTEM_BOOT_OPTIONS, GET_BOOT_FLAGS_REQUEST, deadlineMs),
    );
  }

  async deviceId(bmc: BmcCredentials, deadlineMs?: number): Promise<DeviceId> {
    return parseDeviceId(
      await this.command(bmc, 'Get Device ID', NetFn.APP, Cmd.GET_DEVICE_ID, Buffer.alloc(0), deadlineMs),
    );
  }

  /** Any command inside a session; resolves with the response data (completion code 0). */
  command(
    bmc: BmcCredentials,
    what: string,
    netFn: number,
    cmd: number,
    data: Buffer,
    deadlineMs = this.options.deadlineMs,
  ): Promise<Buffer> {
    const link = this.link(bmc);
    const deadline = this.clock.now() + deadlineMs;
    return link.enqueue(async () => {
      link.creds = { ...bmc, port: bmc.port ?? 623 };
      const fresh =
        !link.session ||
        link.sessionCreds !== credsKey(bmc) ||
        this.clock.now() - link.session.lastUsed > this.options.sessionIdleMs;
      if (fresh) {
        await this.resolve(link);
        await this.login(link, deadline);
      }
      // A held session the BMC forgot (restart, its own timeout) looks like silence: give it a
      // few retransmissions, then log in again once within what is left of the deadline.
      const probe = fresh ? deadline : Math.min(deadline, this.clock.now() + this.options.retryMs * 3);
      try {
        return await this.inSession(link, what, netFn, cmd, data, probe);
      } catch (e) {
        if (fresh || !(e instanceof BmcUnreachable) || this.clock.now() >= deadline) throw e;
        link.session = undefined;
        await this.resolve(link);
        await this.login(link, deadline);
        return this.inSession(link, what, netFn, cmd, data, deadline);
      }
    });
  }

  /** Closes the session with this BMC, if one is held. */
  closeSession(bmc: BmcCredentials, deadlineMs = 1000): Promise<void> {
    const link = this.link(bmc);
    return link.enqueue(async () => {
      const s = link.session;
      if (!s) return;
      const sidc = Buffer.alloc(4);
      sidc.writeUInt32LE(s.sidc);
      try {
        await this.inSession(link, 'Close Session', NetFn.APP, Cmd.CLOSE_SESSION, sidc, this.clock.now() + deadlineMs);
      } catch {
        // the BMC times idle sessions out anyway
      } finally {
        link.session = undefined;
      }
    });
  }

  /** Closes every session, then the socket (if the client opened it). */
  async close(): Promise<void> {
    clearInterval(this.keepaliveTimer);
    await Promise.all([...this.links.values()].filter((l) => l.session).map((l) => this.closeSession(l.creds)));
    if (this.ownSocket) this.socket.close();
  }

  /** Whether a session with this BMC is held now. */
  hasSession(bmc: BmcCredentials): boolean {
    return this.links.get(`${bmc.host}:${bmc.port ?? 623}`)?.session !== undefined;
  }

  /** The cipher suite of the session held with this BMC, if any. */
  sessionSuite(bmc: BmcCredentials): 3 | 17 | undefined {
    return this.links.get(`${bmc.host}:${bmc.port ?? 623}`)?.session?.keys.suite.id;
  }

  // --- session setup (§13.17–13.31) ---------------------------------------------------------

  private async login(link: BmcLink, deadline: number): Promise<void> {
    if (this.loginsInProgress >= this.options.maxConcurrentLogins) {
      await new Promise<void>((r) => this.loginQueue.push(r));
    }
    this.loginsInProgress++;
    try {
      await this.doLogin(link, deadline);
    } finally {
      this.loginsInProgress--;
      this.loginQueue.shift()?.();
    }
  }

  private async doLogin(link: BmcLink, deadline: number): Promise<void> {
    link.session = undefined;
    link.sessionCreds = undefined;
    const bmc = link.key;
    const { user, password } = link.creds;
    const userBytes = Buffer.from(user, 'utf8');
    if (userBytes.length > 16) throw new BmcAuthenticationFailed(bmc, 'user names are at most 16 bytes');
    let kuidKey: Buffer;
    try {
      kuidKey = kuid(password);
    } catch {
      throw new BmcAuthenticationFailed(bmc, 'IPMI 2.0 passwords are at most 20 bytes');
    }

    // 1. Get Channel Authentication Capabilities (IPMI 1.5 framing, no session).
    const capReq = encodeV15(
      encodeRequest({
        netFn: NetFn.APP,
        cmd: Cmd.GET_CHANNEL_AUTH_CAPABILITIES,
        rqSeq: 0,
        data: Buffer.from([0x8e, Privilege.ADMINISTRATOR]),
      }),
    );
    const cap = await link.exchange(
      'Get Channel Authentication Capabilities',
      () => capReq,
      (p) => {
        if (p.kind !== 'v1.5') return undefined;
        const r = safeDecodeResponse(p.message);
        return r && r.cmd === Cmd.GET_CHANNEL_AUTH_CAPABILITIES ? r : undefined;
      },
      deadline,
    );
    if (cap.cc !== 0) throw new BmcCommandFailed(bmc, 'Get Channel Authentication Capabilities', cap.cc);
    if (!supportsIpmi20(cap.data))
      throw new BmcSessionRefused(bmc, 'login', undefined, 'the BMC does not offer IPMI 2.0 (RMCP+)');

    // 2. Open Session: our suites in order (17, 3), starting with the one this BMC took last
    //    time; the BMC's choice is verified, and never anything weaker than suite 3.
    const sidm = this.sessionId();
    const candidates = link.suite ? [link.suite, ...this.suites.filter((c) => c !== link.suite)] : this.suites;
    let os: ReturnType<typeof decodeOpenSessionResponse> | undefined;
    let suite: CipherSuite | undefined;
    for (const [i, proposal] of candidates.entries()) {
      const tag = i === 0 ? 2 : 0x20 + i;
      const osReq = encodeV20({
        payloadType: PayloadType.OPEN_SESSION_REQUEST,
        sessionId: 0,
        seq: 0,
        payload: encodeOpenSessionRequest({ tag, maxPriv: 0, sidm, algorithms: proposal.algorithms }),
      });
      os = await link.exchange(
        'Open Session',
        () => osReq,
        setupPayload(PayloadType.OPEN_SESSION_RESPONSE, tag, decodeOpenSessionResponse),
        deadline,
      );
      if (os.status === 0) {
        suite = suiteOf(os.algorithms!);
        break;
      }
      if (!UNSUPPORTED_ALGORITHM.has(os.status) || i === candidates.length - 1)
        throw new BmcSessionRefused(bmc, 'Open Session', os.status);
    }
    const a = os!.algorithms!;
    if (!suite || !this.suites.includes(suite)) {
      throw new BmcSessionRefused(
        bmc,
        'Open Session',
        undefined,
        `the BMC chose algorithms ${a.auth}/${a.integrity}/${a.conf}, not cipher suite ${this.suites.map((c) => c.id).join(' or ')}`,
      );
    }
    if (!os!.sidm.equals(sidm))
      throw new BmcSessionRefused(bmc, 'Open Session', undefined, 'the answer names another session');
    const sidc = os!.sidc;

    // 3–4. RAKP1 → RAKP2: the BMC proves it knows the password.
    const rm = this.random(16);
    const r1 = encodeV20({
      payloadType: PayloadType.RAKP1,
      sessionId: 0,
      seq: 0,
      payload: encodeRakp1({ tag: 3, sidc, rm, role: ROLE_ADMIN_NAME_ONLY, user: userBytes }),
    });
    const r2 = await link.exchange('RAKP 1', () => r1, setupPayload(PayloadType.RAKP2, 3, decodeRakp2), deadline);
    if (r2.status === 0x0d || r2.status === 0x09 || r2.status === 0x0a)
      throw new BmcAuthenticationFailed(bmc, `user '${user}' refused: ${RAKP_AUTH_REASON[r2.status]}`);
    if (r2.status !== 0) throw new BmcSessionRefused(bmc, 'RAKP 2', r2.status);
    const fields = { sidm, sidc, rm, rc: r2.rc, guid: r2.guid, role: ROLE_ADMIN_NAME_ONLY, user: userBytes };
    const proofs = rakpProofs(kuidKey, fields, suite);
    const keys = proofs.keys;
    if (!safeEqual(proofs.rakp2, r2.authCode))
      throw new BmcAuthenticationFailed(bmc, `wrong password for user '${user}'`);

    // 5–6. RAKP3 → RAKP4: we prove it; the BMC's integrity check value proves the keys.
    const r3 = encodeV20({
      payloadType: PayloadType.RAKP3,
      sessionId: 0,
      seq: 0,
      payload: encodeRakp3({ tag: 4, status: 0, sidc, authCode: proofs.rakp3 }),
    });
    const r4 = await link.exchange(
      'RAKP 3',
      () => r3,
      setupPayload(PayloadType.RAKP4, 4, (b) => decodeRakp4(b, suite!.icvLength)),
      deadline,
    );
    if (r4.status !== 0) throw new BmcSessionRefused(bmc, 'RAKP 4', r4.status);
    if (!safeEqual(proofs.rakp4, r4.icv))
      throw new BmcSessionRefused(bmc, 'RAKP 4', undefined, 'integrity check value mismatch');
    link.suite = suite;

    link.session = { sidm, sidc: sidc.readUInt32LE(0), keys, seq: 0, rqSeq: 0, lastUsed: this.clock.now() };
    link.sessionCreds = credsKey(link.creds);
    this.sessionsOpened++;
    // 7. Administrator privilege for the session, and who the BMC is.
    await this.inSession(
      link,
      'Set Session Privilege Level',
      NetFn.APP,
      Cmd.SET_SESSION_PRIVILEGE,
      Buffer.from([Privilege.ADMINISTRATOR]),
      deadline,
    );
    link.session.deviceId = parseDeviceId(
      await this.inSession(link, 'Get Device ID', NetFn.APP, Cmd.GET_DEVICE_ID, Buffer.alloc(0), deadline),
    );
  }

  /** One request/response inside the established session; each transmission gets a new seq. */
  private async inSession(
    link: BmcLink,
    what: string,
    netFn: number,
    cmd: number,
    data: Buffer,
    deadline: number,
  ): Promise<Buffer> {
    const s = link.session;
    if (!s) throw new IpmiError(link.key, 'no session');
    s.rqSeq = (s.rqSeq + 1) & 0x3f;
    const rqSeq = s.rqSeq;
    const msg = encodeRequest({ netFn, cmd, rqSeq, data });
    const sidm = s.sidm.readUInt32LE(0);
    const r = await link.exchange(
      what,
      () => {
        s.seq = (s.seq + 1) >>> 0 || 1;
        return encodeV20({
          payloadType: PayloadType.IPMI,
          sessionId: s.sidc,
          seq: s.seq,
          payload: msg,
          keys: s.keys,
          iv: this.random(16),
        });
      },
      (p) => {
        if (p.kind !== 'v2.0' || p.payloadType !== PayloadType.IPMI || p.sessionId !== sidm) return undefined;
        let resp: IpmiResponse | undefined;
        try {
          resp = safeDecodeResponse(openV20(p as V20Packet, s.keys));
        } catch {
          return undefined; // forged or corrupted: ignore, keep waiting
        }
        return resp && resp.netFn === netFn + 1 && resp.cmd === cmd && resp.rqSeq === rqSeq ? resp : undefined;
      },
      deadline,
    );
    s.lastUsed = this.clock.now();
    if (r.cc !== 0) throw new BmcCommandFailed(link.key, what, r.cc);
    return r.data;
  }

  private sessionId(): Buffer {
    for (;;) {
      const b = this.random(4);
      if (b.readUInt32LE(0) !== 0) return b;
    }
  }
}

function credsKey(c: BmcCredentials): string {
  return `${c.user}\u0000${c.password}`;
}

/** Open Session statuses meaning "not these algorithms": try the next suite. */
const UNSUPPORTED_ALGORITHM = new Set([0x04, 0x05, 0x10, 0x11]);

const RAKP_AUTH_REASON: Record<number, string> = {
  0x09: 'invalid role',
  0x0a: 'role or privilege level not permitted',
  0x0d: 'unknown user name',
};

function safeDecodeResponse(b: Buffer): IpmiResponse | undefined {
  try {
    return decodeResponse(b);
  } catch {
    return undefined;
  }
}

function setupPayload<T extends { tag: number }>(type: number, tag: number, decode: (b: Buffer) => T): Match<T> {
  return (p) => {
    if (p.kind !== 'v2.0' || p.payloadType !== type) return undefined;
    try {
      const r = decode(p.payload);
      return r.tag === tag ? r : undefined;
    } catch {
      return undefined;
    }
  };
}
