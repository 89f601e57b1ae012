/**
 * A PXE ROM's DHCP, for many simulated nodes sharing one UDP socket on port 68: DISCOVER and
 * REQUEST as PXE 2.1 firmware sends them (broadcast flag, option 60 `PXEClient:Arch:00000:UNDI:002001`,
 * 93 client architecture, 94 UNDI version, 97 the machine's GUID, 57 max message size, the PXE
 * parameter request list), broadcast to 255.255.255.255:67; replies (broadcast back to port 68)
 * are told apart by transaction id and MAC. Packets are built and read with libs/dhcp's codec.
 */
import { createHash, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  BOOTREPLY,
  BOOTREQUEST,
  BROADCAST_FLAG,
  BROADCAST_IP,
  ClientArch,
  DhcpMessageType,
  DhcpOptionCode,
  type DhcpPacket,
  ZERO_IP,
  bootfileName,
  decodeDhcp,
  encodeDhcp,
  macOf,
  messageType,
  option,
  routers,
  serverId,
  subnetMask,
  tftpServerName,
} from '@bm/dhcp';

/** Who the firmware says it is. */
export interface PxeIdentity {
  mac: string;
  /** SMBIOS UUID, 16 bytes (option 97). */
  guid: Buffer;
  /** Option 93 (default 0, BIOS x86). */
  arch?: number;
}

/** A GUID for a simulated machine, stable for its MAC. */
export function guidForMac(mac: string): Buffer {
  return createHash('sha256').update(`nova-bm lab node ${mac.toLowerCase()}`).digest().subarray(0, 16);
}

/** What a PXE 2.1 ROM asks for in option 55 (Intel's PXE ROMs). */
export const PXE_PARAMETER_REQUEST_LIST = [
  1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128,
  129, 130, 131, 132, 133, 134, 135,
];

function macBytes(mac: string): Buffer {
  const b = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  if (b.length !== 6) throw new RangeError(`${mac} is not a MAC address`);
  return b;
}

function pxeRequest(
  id: PxeIdentity,
  xid: number,
  secs: number,
  type: number,
  extra: DhcpPacket['options'],
): DhcpPacket {
  const arch = id.arch ?? ClientArch.BIOS_X86;
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs,
    flags: BROADCAST_FLAG,
    ciaddr: ZERO_IP,
    yiaddr: ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: ZERO_IP,
    chaddr: macBytes(id.mac),
    sname: '',
    file: '',
    options: [
      option.u8(DhcpOptionCode.MESSAGE_TYPE, type),
      ...extra,
      option.u16(DhcpOptionCode.MAX_MESSAGE_SIZE, 1260),
      option.raw(DhcpOptionCode.PARAMETER_REQUEST_LIST, PXE_PARAMETER_REQUEST_LIST),
      option.raw(DhcpOptionCode.CLIENT_UUID, Buffer.concat([Buffer.from([0]), id.guid])),
      option.raw(DhcpOptionCode.CLIENT_NDI, [1, 2, 1]),
      option.u16(DhcpOptionCode.CLIENT_ARCH, arch),
      option.text(DhcpOptionCode.VENDOR_CLASS, `PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:002001`),
    ],
  };
}

/** DHCPDISCOVER as a PXE ROM sends it. */
export function pxeDiscover(id: PxeIdentity, xid: number, secs = 0): DhcpPacket {
  return pxeRequest(id, xid, secs, DhcpMessageType.DISCOVER, []);
}

/** DHCPREQUEST (SELECTING) for `offer`: option 50 the address, 54 the server. */
export function pxeSelect(id: PxeIdentity, xid: number, offer: { address: string; server: string }, secs = 0) {
  return pxeRequest(id, xid, secs, DhcpMessageType.REQUEST, [
    option.ip(DhcpOptionCode.REQUESTED_IP, offer.address),
    option.ip(DhcpOptionCode.SERVER_ID, offer.server),
  ]);
}

/** What a node keeps of an ACK. */
export interface DhcpLease {
  address: string;
  /** Option 54. */
  server: string;
  netmask: string;
  gateway?: string;
  /** Where TFTP goes: siaddr, else option 66. */
  nextServer: string;
  /** The file field, else option 67. */
  bootFile: string;
}

/** The lease an OFFER or ACK carries; throws when it lacks an address, a server or a boot file. */
export function leaseOf(reply: DhcpPacket): DhcpLease {
  const server = serverId(reply);
  const nextServer = reply.siaddr !== ZERO_IP ? reply.siaddr : tftpServerName(reply);
  const bootFile = reply.file || bootfileName(reply);
  if (reply.yiaddr === ZERO_IP) throw new Error('the reply offers no address (yiaddr 0.0.0.0)');
  if (!server) throw new Error('the reply has no server identifier (option 54)');
  if (!nextServer) throw new Error('the reply names no boot server (siaddr, option 66)');
  if (!bootFile) throw new Error('the reply names no boot file (file, option 67)');
  const gateway = routers(reply)[0];
  return {
    address: reply.yiaddr,
    server,
    netmask: subnetMask(reply) ?? '255.255.255.0',
    ...(gateway ? { gateway } : {}),
    nextServer,
    bootFile,
  };
}

function usable(reply: DhcpPacket): boolean {
  try {
    leaseOf(reply);
    return true;
  } catch {
    return false;
  }
}

/** Prefix length of a dotted-quad netmask (255.255.255.0 → 24). */
export function prefixLength(netmask: string): number {
  const n = netmask.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  let bits = 0;
  for (let m = n; m & 0x80000000; m = (m << 1) >>> 0) bits++;
  return bits;
}

export interface DhcpPortOptions {
  /** Client port (68); a high port for tests. */
  clientPort?: number;
  /** Server port (67). */
  serverPort?: number;
  /** Where requests go (default 255.255.255.255). */
  broadcast?: string;
  /**
   * Called when a request could not be sent (the next try follows its timeout as for a lost
   * one). The fleet restores its broadcast route here: the kernel drops a device's routes when
   * its last IPv4 address goes, which happens when every node is between two leases at once.
   */
  onSendError?: (e: Error) => Promise<void> | void;
}

export interface DhcpExchangeOptions {
  /** How long to wait for an answer to each try, in turn; then the exchange fails (PXE: 4, 8, 16, 32 s). */
  timeoutsMs?: number[];
  signal?: AbortSignal;
  /** Each message, for the node's log ("DISCOVER", "OFFER 10.0.0.5 from 10.0.0.1"…). */
  onMessage?: (line: string) => void;
}

const DEFAULT_TIMEOUTS = [1000, 2000, 4000, 8000, 16000];

/** The fleet's DHCP socket: one per process, shared by every node (replies are broadcast to port 68). */
export class DhcpClientPort {
  private readonly waiting = new Map<number, (p: DhcpPacket) => void>();
  /** Datagrams that were not a reply to any exchange in progress. */
  stray = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly o: Required<DhcpPortOptions>,
  ) {
    socket.on('message', (msg) => {
      let p: DhcpPacket;
      try {
        p = decodeDhcp(msg);
      } catch {
        this.stray++;
        return;
      }
      const deliver = p.op === BOOTREPLY ? this.waiting.get(p.xid) : undefined;
      if (!deliver) this.stray++;
      else
        try {
          deliver(p);
        } catch {
          this.stray++; // options that do not parse: not an answer
        }
    });
    socket.on('error', () => undefined);
  }

  static async open(o: DhcpPortOptions = {}): Promise<DhcpClientPort> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    const opts = {
      clientPort: o.clientPort ?? 68,
      serverPort: o.serverPort ?? 67,
      broadcast: o.broadcast ?? BROADCAST_IP,
      onSendError: o.onSendError ?? (() => undefined),
    };
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.clientPort, '0.0.0.0', () => {
        socket.off('error', reject);
        socket.setBroadcast(true);
        resolve();
      });
    });
    return new DhcpClientPort(socket, opts);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  /** DISCOVER → OFFER → REQUEST → ACK (a NAK starts over); resolves with the ACK's lease. */
  async exchange(id: PxeIdentity, o: DhcpExchangeOptions = {}): Promise<DhcpLease> {
    const timeouts = o.timeoutsMs ?? DEFAULT_TIMEOUTS;
    const started = Date.now();
    const secs = () => Math.min(0xffff, Math.floor((Date.now() - started) / 1000));
    const say = o.onMessage ?? (() => undefined);
    for (let round = 0; round < 3; round++) {
      const xid = randomInt(1, 0xffffffff);
      const offer = await this.ask(id, xid, () => pxeDiscover(id, xid, secs()), DhcpMessageType.OFFER, timeouts, o);
      const offered = leaseOf(offer);
      say(`OFFER ${offered.address} from ${offered.server}`);
      const ack = await this.ask(
        id,
        xid,
        () => pxeSelect(id, xid, { address: offered.address, server: offered.server }, secs()),
        DhcpMessageType.ACK,
        timeouts,
        o,
      );
      if (messageType(ack) === DhcpMessageType.NAK) {
        say(`NAK from ${serverId(ack) ?? '?'}: starting over`);
        continue;
      }
      const lease = leaseOf(ack);
      say(`ACK ${lease.address} from ${lease.server}, boot file ${lease.bootFile} on ${lease.nextServer}`);
      return lease;
    }
    throw new Error(`DHCP: NAKed three times for ${id.mac}`);
  }

  /** Sends `build()` (again after each timeout) until a reply of type `want` (or a NAK when asking for an ACK). */
  private ask(
    id: PxeIdentity,
    xid: number,
    build: () => DhcpPacket,
    want: number,
    timeouts: number[],
    o: DhcpExchangeOptions,
  ): Promise<DhcpPacket> {
    const mac = id.mac.toLowerCase();
    const name = want === DhcpMessageType.OFFER ? 'DISCOVER' : 'REQUEST';
    return new Promise((resolve, reject) => {
      let attempt = 0;
      let timer: NodeJS.Timeout | undefined;
      const done = (e: unknown, p?: DhcpPacket) => {
        clearTimeout(timer);
        this.waiting.delete(xid);
        o.signal?.removeEventListener('abort', onAbort);
        if (p) resolve(p);
        else reject(e);
      };
      const onAbort = () => done(o.signal!.reason);
      const send = () => {
        if (attempt >= timeouts.length) {
          done(new Error(`DHCP: no ${want === DhcpMessageType.OFFER ? 'OFFER' : 'ACK'} after ${attempt} ${name}s`));
          return;
        }
        o.onMessage?.(`${name}${attempt ? ` (again, ${attempt + 1})` : ''}`);
        this.socket.send(encodeDhcp(build()), this.o.serverPort, this.o.broadcast, (e) => {
          if (!e) return;
          o.onMessage?.(`${name} not sent: ${e.message}`);
          void Promise.resolve()
            .then(() => this.o.onSendError(e))
            .catch(() => undefined);
        });
        timer = setTimeout(send, timeouts[attempt++]);
      };
      this.waiting.set(xid, (p) => {
        if (macOf(p) !== mac) return;
        const type = messageType(p);
        // An OFFER without what a PXE ROM needs (address, server, boot file) is not for it: wait for another.
        if (type === want && usable(p)) done(undefined, p);
        else if (want === DhcpMessageType.ACK && type === DhcpMessageType.NAK) done(undefined, p);
      });
      if (o.signal?.aborted) return done(o.signal.reason);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      send();
    });
  }
}
