/**
 * The PXE DHCP responder: a pure function of (request, enrolled interfaces, reservations, config)
 * to (reply, where to send it, what to log). No sockets, no clock, no Nest: the service around it
 * owns the UDP sockets on 67 (and 4011 in proxy mode) and persists the reservations.
 *
 * Rules (RFC 2131 unless noted):
 *  - only enrolled MACs are answered; others are ignored and logged `ignored-unenrolled`;
 *  - full mode: DISCOVER → OFFER of the MAC's stable reservation; REQUEST → ACK, or NAK when the
 *    address asked for is not the MAC's; REQUEST naming another server id → no reply, logged
 *    `other-server-seen` (so is any BOOTREPLY we receive from another server); RELEASE → lease
 *    inactive (reservation kept); DECLINE → logged; INFORM → ACK without address or lease time;
 *  - proxy mode (PXE 2.1 ProxyDHCP, for networks with their own DHCP server): DISCOVER from a PXE
 *    client on 67 → OFFER without address (yiaddr 0) carrying only the PXE boot options; REQUEST to
 *    port 4011 → ACK with the same, sent back to the requester's address and port;
 *  - boot file by option 93 (RFC 4578: 0 BIOS → bootfileBios, 7/9 EFI x64 → bootfileUefi, 6 EFI IA32 →
 *    bootfileUefiIa32 if configured); iPXE (user class "iPXE" or option 175) gets ipxeScriptUrl when
 *    set, and always 175.176 (no-pxedhcp) = 1 so it does not wait 3 s for ProxyDHCP offers;
 *  - "PXEClient" in option 60 → option 60 echoed, option 43 with PXE_DISCOVERY_CONTROL (6) = 8
 *    (use the boot file, no boot-server discovery), option 97 echoed;
 *  - where to: giaddr set → the relay, port 67 (NAK with the broadcast bit); else ciaddr set
 *    (renew/rebind, INFORM) → ciaddr:68; else broadcast to 68 (RFC 2131 §4.1 lets a server that cannot
 *    unicast to an unconfigured client broadcast instead; Node cannot seed the ARP cache).
 *  - option 61 (RFC 6842) and option 82 (RFC 3046) are echoed.
 */
import {
  BOOTREPLY,
  BOOTREQUEST,
  BROADCAST_FLAG,
  ClientArch,
  DhcpMessageType,
  DhcpOptionCode,
  IpxeSubOption,
  MalformedDhcp,
  PxeSubOption,
  clientArch,
  getOption,
  hasOption,
  macOf,
  messageType,
  messageTypeName,
  option,
  requestedIp,
  serverId,
  userClass,
  vendorClass,
  type DhcpOption,
  type DhcpPacket,
} from './codec';
import { BROADCAST_IP, ZERO_IP, ipToInt, isIpv4, sameSubnet } from './ip';
import type { LeaseStore } from './leases';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const PXE_PORT = 4011;

export interface DhcpResponderConfig {
  /** Our address: the server identifier (option 54). */
  serverIp: string;
  /** `full`: we hand out addresses. `proxy`: another DHCP server does; we add PXE boot options only. */
  mode: 'full' | 'proxy';
  /** Addresses reserved for enrolled MACs (full mode). */
  range: { first: string; last: string };
  netmask: string;
  router?: string;
  leaseTimeS: number;
  /** next-server: siaddr, and option 66 as text. */
  tftpServer: string;
  /** Boot file for option 93 = 0 (BIOS x86) and for clients that send no option 93, e.g. `pxelinux.0`. */
  bootfileBios: string;
  /** Boot file for option 93 = 7 or 9 (EFI x64), e.g. `bootx64.efi`. */
  bootfileUefi: string;
  /** Boot file for option 93 = 6 (EFI IA32); without it such clients get an address but no boot file. */
  bootfileUefiIa32?: string;
  /** What iPXE clients get instead of the TFTP boot file, e.g. `http://10.77.0.1:8080/boot.ipxe`. */
  ipxeScriptUrl?: string;
  /** Where broadcast replies go (default 255.255.255.255; a subnet broadcast needs no extra route). */
  broadcastAddress?: string;
}

/** What the enrollment lookup knows about a MAC that may boot from us. */
export interface EnrolledInterface {
  nodeId: string;
}

export interface ResponderContext {
  config: DhcpResponderConfig;
  /** MAC (lower-case, colon-separated) → the enrolled node, or undefined. */
  lookup: (mac: string) => EnrolledInterface | undefined;
  leases: LeaseStore;
}

/**
 * Where the datagram came in: the local port (67, or 4011 in proxy mode) and its sender. Send the
 * reply from the same socket (a ProxyDHCP ACK must come from port 4011).
 */
export interface ReceivedOn {
  localPort?: number;
  source?: { address: string; port: number };
}

export interface Destination {
  address: string;
  port: number;
  via: 'broadcast' | 'unicast' | 'relay';
}

export type DhcpEvent =
  | 'ignored-unenrolled'
  | 'offer'
  | 'ack'
  | 'nak'
  | 'release'
  | 'inform'
  | 'decline'
  | 'other-server-seen'
  | 'range-full'
  | 'ignored';

export interface DhcpLogEntry {
  event: DhcpEvent;
  mac: string;
  xid: number;
  /** The request's message type name (DISCOVER, REQUEST …). */
  message: string;
  nodeId?: string;
  /** The address offered/acked/released/declined, or asked for when NAKed. */
  ip?: string;
  /** For other-server-seen: that server's identifier. */
  server?: string;
  relay?: string;
  client?: 'pxe' | 'ipxe' | 'dhcp';
  arch?: number;
  vendorClass?: string;
  bootfile?: string;
  proxy?: boolean;
  reason?: string;
}

export interface Decision {
  /** The reply to send, if any; `destination` is set exactly when `reply` is. */
  reply?: DhcpPacket;
  destination?: Destination;
  log?: DhcpLogEntry;
}

/** Throws an Error naming every problem in the configuration. */
export function validateResponderConfig(c: DhcpResponderConfig): void {
  const problems: string[] = [];
  const ip = (name: string, v: string | undefined, required = true) => {
    if (v === undefined ? required : !isIpv4(v))
      problems.push(`${name} must be a dotted-quad IPv4 address, is ${JSON.stringify(v)}`);
  };
  ip('serverIp', c.serverIp);
  ip('range.first', c.range?.first);
  ip('range.last', c.range?.last);
  ip('netmask', c.netmask);
  ip('router', c.router, false);
  ip('tftpServer', c.tftpServer);
  ip('broadcastAddress', c.broadcastAddress, false);
  if (c.mode !== 'full' && c.mode !== 'proxy')
    problems.push(`mode must be 'full' or 'proxy', is ${JSON.stringify(c.mode)}`);
  if (problems.length === 0) {
    const m = ipToInt(c.netmask);
    if (((~m >>> 0) & ((~m >>> 0) + 1)) !== 0) problems.push(`netmask ${c.netmask} is not contiguous`);
    if (ipToInt(c.range.first) > ipToInt(c.range.last))
      problems.push(`range ${c.range.first}-${c.range.last} is empty`);
    if (!sameSubnet(c.range.first, c.range.last, c.netmask))
      problems.push(`range ${c.range.first}-${c.range.last} spans more than one subnet of ${c.netmask}`);
  }
  if (!Number.isInteger(c.leaseTimeS) || c.leaseTimeS < 1 || c.leaseTimeS > 0xffffffff)
    problems.push(`leaseTimeS must be an integer in 1..4294967295, is ${c.leaseTimeS}`);
  for (const [name, v] of [
    ['bootfileBios', c.bootfileBios],
    ['bootfileUefi', c.bootfileUefi],
    ['bootfileUefiIa32', c.bootfileUefiIa32],
    ['ipxeScriptUrl', c.ipxeScriptUrl],
  ] as const) {
    if (v === undefined && (name === 'bootfileUefiIa32' || name === 'ipxeScriptUrl')) continue;
    if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'latin1') > 255)
      problems.push(`${name} must be a non-empty string of at most 255 bytes`);
  }
  if (problems.length) throw new Error(`invalid DHCP responder configuration: ${problems.join('; ')}`);
}

type ClientKind = 'pxe' | 'ipxe' | 'dhcp';

interface BootPlan {
  kind: ClientKind;
  pxeClient: boolean;
  ipxe: boolean;
  arch?: number;
  bootfile?: string;
}

function planBoot(req: DhcpPacket, c: DhcpResponderConfig): BootPlan {
  const pxeClient = (vendorClass(req) ?? '').startsWith('PXEClient');
  const ipxe = userClass(req).includes('iPXE') || hasOption(req, DhcpOptionCode.IPXE_ENCAP);
  const arch = clientArch(req)[0];
  const kind: ClientKind = ipxe ? 'ipxe' : pxeClient ? 'pxe' : 'dhcp';
  let bootfile: string | undefined;
  if (ipxe && c.ipxeScriptUrl) bootfile = c.ipxeScriptUrl;
  else if (arch === undefined || arch === ClientArch.BIOS_X86) bootfile = c.bootfileBios;
  else if (arch === ClientArch.EFI_BC || arch === ClientArch.EFI_X64) bootfile = c.bootfileUefi;
  else if (arch === ClientArch.EFI_IA32) bootfile = c.bootfileUefiIa32;
  return { kind, pxeClient, ipxe, arch, bootfile };
}

/** The PXE part of a reply: siaddr, the file field and options 66, 67, 60, 43, 97, 175. */
function bootOptions(
  req: DhcpPacket,
  c: DhcpResponderConfig,
  plan: BootPlan,
): { siaddr: string; file: string; options: DhcpOption[] } {
  const options: DhcpOption[] = [];
  const viaUrl = plan.bootfile !== undefined && plan.bootfile === c.ipxeScriptUrl && plan.ipxe;
  if (plan.bootfile !== undefined) {
    if (!viaUrl) options.push(option.text(DhcpOptionCode.TFTP_SERVER_NAME, c.tftpServer));
    options.push(option.text(DhcpOptionCode.BOOTFILE_NAME, plan.bootfile));
  }
  if (plan.pxeClient) {
    options.push(option.text(DhcpOptionCode.VENDOR_CLASS, 'PXEClient'));
    options.push(option.encap(DhcpOptionCode.VENDOR_SPECIFIC, [option.u8(PxeSubOption.DISCOVERY_CONTROL, 8)], true));
    const uuid = getOption(req, DhcpOptionCode.CLIENT_UUID);
    if (uuid) options.push(option.raw(DhcpOptionCode.CLIENT_UUID, uuid));
  }
  if (plan.ipxe) options.push(option.encap(DhcpOptionCode.IPXE_ENCAP, [option.u8(IpxeSubOption.NO_PXEDHCP, 1)]));
  const fits = plan.bootfile !== undefined && Buffer.byteLength(plan.bootfile, 'latin1') < 128;
  return {
    siaddr: plan.bootfile !== undefined ? c.tftpServer : ZERO_IP,
    file: fits ? (plan.bootfile as string) : '',
    options,
  };
}

function reply(req: DhcpPacket, type: number, c: DhcpResponderConfig): DhcpPacket {
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: ZERO_IP,
    yiaddr: ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: req.giaddr,
    chaddr: Buffer.from(req.chaddr),
    sname: '',
    file: '',
    options: [option.u8(DhcpOptionCode.MESSAGE_TYPE, type), option.ip(DhcpOptionCode.SERVER_ID, c.serverIp)],
  };
}

/** Options every reply echoes: client identifier (RFC 6842), then relay agent information last (RFC 3046). */
function echoes(req: DhcpPacket): DhcpOption[] {
  const out: DhcpOption[] = [];
  const id = getOption(req, DhcpOptionCode.CLIENT_ID);
  if (id) out.push(option.raw(DhcpOptionCode.CLIENT_ID, id));
  const relay = getOption(req, DhcpOptionCode.RELAY_AGENT_INFO);
  if (relay) out.push(option.raw(DhcpOptionCode.RELAY_AGENT_INFO, relay));
  return out;
}

function addressOptions(c: DhcpResponderConfig, withLease: boolean): DhcpOption[] {
  const out: DhcpOption[] = [];
  if (withLease) {
    out.push(option.u32(DhcpOptionCode.LEASE_TIME, c.leaseTimeS));
    if (c.leaseTimeS !== 0xffffffff) {
      out.push(option.u32(DhcpOptionCode.RENEWAL_TIME, Math.floor(c.leaseTimeS / 2)));
      out.push(option.u32(DhcpOptionCode.REBINDING_TIME, Math.floor((c.leaseTimeS * 7) / 8)));
    }
  }
  out.push(option.ip(DhcpOptionCode.SUBNET_MASK, c.netmask));
  if (c.router) out.push(option.ip(DhcpOptionCode.ROUTER, c.router));
  return out;
}

/** RFC 2131 §4.1 destination rules. */
function destinationFor(req: DhcpPacket, c: DhcpResponderConfig, nak = false): Destination {
  if (req.giaddr !== ZERO_IP) return { address: req.giaddr, port: DHCP_SERVER_PORT, via: 'relay' };
  if (!nak && req.ciaddr !== ZERO_IP) return { address: req.ciaddr, port: DHCP_CLIENT_PORT, via: 'unicast' };
  return { address: c.broadcastAddress ?? BROADCAST_IP, port: DHCP_CLIENT_PORT, via: 'broadcast' };
}

/**
 * Decide what to answer to one received BOOTP/DHCP packet. Pure apart from the lease store calls
 * (allocate on DISCOVER/REQUEST, release on RELEASE). Never throws on client input: a packet whose
 * options do not parse is ignored with a log entry.
 */
export function respond(packet: DhcpPacket, ctx: ResponderContext, rx: ReceivedOn = {}): Decision {
  const mac = macOf(packet);
  const base = { mac, xid: packet.xid, message: 'BOOTP' };
  try {
    return decide(packet, ctx, rx, base);
  } catch (e) {
    if (e instanceof MalformedDhcp) return { log: { ...base, event: 'ignored', reason: e.message } };
    throw e;
  }
}

type LogBase = Pick<DhcpLogEntry, 'mac' | 'xid' | 'message'>;

function decide(req: DhcpPacket, ctx: ResponderContext, rx: ReceivedOn, logBase: LogBase): Decision {
  const c = ctx.config;
  const type = messageType(req);
  const base: LogBase = { ...logBase, message: messageTypeName(type) };
  const ignore = (reason: string): Decision => ({ log: { ...base, event: 'ignored', reason } });

  if (req.op === BOOTREPLY) {
    // Only another server's replies reach us (e.g. a relayed or broadcast OFFER/ACK).
    const server = serverId(req) ?? (req.siaddr !== ZERO_IP ? req.siaddr : undefined);
    if (c.mode === 'full' && server !== c.serverIp)
      return { log: { ...base, event: 'other-server-seen', server, ip: req.yiaddr } };
    return {};
  }
  if (req.op !== BOOTREQUEST) return ignore(`op ${req.op}`);
  if (type === undefined) return ignore('BOOTP request without option 53: only DHCP clients are served');
  if (req.htype !== 1 || req.hlen !== 6) return ignore(`hardware type ${req.htype}/length ${req.hlen} is not Ethernet`);

  const sid = serverId(req);
  const fromPxePort = rx.localPort === PXE_PORT;
  if (type === DhcpMessageType.REQUEST && sid !== undefined && sid !== c.serverIp && !fromPxePort) {
    // The client chose another server's offer (RFC 2131 §4.3.2 SELECTING): stay silent.
    if (c.mode === 'proxy') return {};
    const enrolled = ctx.lookup(base.mac);
    return {
      log: {
        ...base,
        event: 'other-server-seen',
        server: sid,
        ip: requestedIp(req),
        ...(enrolled && { nodeId: enrolled.nodeId }),
      },
    };
  }

  const enrolled = ctx.lookup(base.mac);
  if (!enrolled) {
    return {
      log: {
        ...base,
        event: 'ignored-unenrolled',
        vendorClass: vendorClass(req),
        arch: clientArch(req)[0],
        ...(req.giaddr !== ZERO_IP && { relay: req.giaddr }),
      },
    };
  }
  const plan = planBoot(req, c);
  const who = {
    ...base,
    nodeId: enrolled.nodeId,
    client: plan.kind,
    ...(plan.arch !== undefined && { arch: plan.arch }),
    ...(req.giaddr !== ZERO_IP && { relay: req.giaddr }),
  };

  if (c.mode === 'proxy' || fromPxePort) return proxyDecision(req, c, rx, plan, type, who);

  if (req.giaddr !== ZERO_IP && !sameSubnet(req.giaddr, c.range.first, c.netmask)) {
    return {
      log: {
        ...who,
        event: 'ignored',
        reason: `relay ${req.giaddr} is not on the subnet of range ${c.range.first}-${c.range.last}`,
      },
    };
  }

  switch (type) {
    case DhcpMessageType.DISCOVER: {
      const ip = ctx.leases.allocate(base.mac);
      if (ip === undefined)
        return { log: { ...who, event: 'range-full', reason: `no free address in ${c.range.first}-${c.range.last}` } };
      return addressReply(req, c, plan, DhcpMessageType.OFFER, ip, { ...who, event: 'offer', ip });
    }
    case DhcpMessageType.REQUEST: {
      const asked = requestedIp(req);
      if (asked === undefined && req.ciaddr === ZERO_IP)
        return { log: { ...who, event: 'ignored', reason: 'REQUEST with neither option 50 nor ciaddr' } };
      const expected = ctx.leases.allocate(base.mac);
      // SELECTING / INIT-REBOOT name the address in option 50; RENEWING / REBINDING in ciaddr.
      const wanted = asked ?? req.ciaddr;
      if (expected === undefined || wanted !== expected) {
        return nak(req, c, {
          ...who,
          event: 'nak',
          ip: wanted,
          reason: expected === undefined ? 'range full' : `reserved address is ${expected}`,
        });
      }
      return addressReply(req, c, plan, DhcpMessageType.ACK, expected, { ...who, event: 'ack', ip: expected });
    }
    case DhcpMessageType.RELEASE: {
      const reserved = ctx.leases.get(base.mac);
      if (reserved === undefined || reserved !== req.ciaddr)
        return {
          log: {
            ...who,
            event: 'ignored',
            ip: req.ciaddr,
            reason: `release of ${req.ciaddr}, reserved is ${reserved ?? 'none'}`,
          },
        };
      ctx.leases.release(base.mac);
      return { log: { ...who, event: 'release', ip: reserved } };
    }
    case DhcpMessageType.DECLINE:
      return { log: { ...who, event: 'decline', ip: requestedIp(req), reason: 'client found the address in use' } };
    case DhcpMessageType.INFORM: {
      const r = reply(req, DhcpMessageType.ACK, c);
      const boot = bootOptions(req, c, plan);
      r.ciaddr = req.ciaddr;
      r.siaddr = boot.siaddr;
      r.file = boot.file;
      r.options.push(...addressOptions(c, false), ...boot.options, ...echoes(req));
      return {
        reply: r,
        destination: destinationFor(req, c),
        log: { ...who, event: 'inform', ip: req.ciaddr, bootfile: plan.bootfile },
      };
    }
    default:
      return { log: { ...who, event: 'ignored', reason: `${messageTypeName(type)} is not a client message` } };
  }
}

function addressReply(
  req: DhcpPacket,
  c: DhcpResponderConfig,
  plan: BootPlan,
  type: number,
  ip: string,
  log: DhcpLogEntry,
): Decision {
  const r = reply(req, type, c);
  const boot = bootOptions(req, c, plan);
  r.yiaddr = ip;
  if (type === DhcpMessageType.ACK) r.ciaddr = req.ciaddr;
  r.siaddr = boot.siaddr;
  r.file = boot.file;
  r.options.push(...addressOptions(c, true), ...boot.options, ...echoes(req));
  return { reply: r, destination: destinationFor(req, c), log: { ...log, bootfile: plan.bootfile } };
}

function nak(req: DhcpPacket, c: DhcpResponderConfig, log: DhcpLogEntry): Decision {
  const r = reply(req, DhcpMessageType.NAK, c);
  if (req.giaddr !== ZERO_IP) r.flags |= BROADCAST_FLAG; // RFC 2131 §4.3.2: the relay must broadcast it
  r.options.push(option.text(DhcpOptionCode.MESSAGE, log.reason ?? 'wrong address'), ...echoes(req));
  return { reply: r, destination: destinationFor(req, c, true), log };
}

/** PXE 2.1 ProxyDHCP: boot options only, never an address. */
function proxyDecision(
  req: DhcpPacket,
  c: DhcpResponderConfig,
  rx: ReceivedOn,
  plan: BootPlan,
  type: number,
  who: Omit<DhcpLogEntry, 'event'>,
): Decision {
  const fromPxePort = rx.localPort === PXE_PORT;
  if (!plan.pxeClient)
    return {
      log: {
        ...who,
        event: 'ignored',
        proxy: true,
        reason: 'ProxyDHCP answers only PXE clients (option 60 PXEClient)',
      },
    };
  let replyType: number;
  let destination: Destination;
  if (type === DhcpMessageType.DISCOVER && !fromPxePort) {
    replyType = DhcpMessageType.OFFER;
    destination = destinationFor(req, c);
  } else if ((type === DhcpMessageType.REQUEST || type === DhcpMessageType.INFORM) && fromPxePort) {
    replyType = DhcpMessageType.ACK;
    const src = rx.source;
    destination = src ? { address: src.address, port: src.port, via: 'unicast' } : destinationFor(req, c);
  } else {
    return {
      log: {
        ...who,
        event: 'ignored',
        proxy: true,
        reason: `${messageTypeName(type)} on port ${rx.localPort ?? DHCP_SERVER_PORT} is for the network's DHCP server`,
      },
    };
  }
  const r = reply(req, replyType, c);
  const boot = bootOptions(req, c, plan);
  if (replyType === DhcpMessageType.ACK) r.ciaddr = req.ciaddr;
  r.siaddr = boot.siaddr;
  r.file = boot.file;
  r.options.push(...boot.options, ...echoes(req));
  return {
    reply: r,
    destination,
    log: { ...who, event: replyType === DhcpMessageType.OFFER ? 'offer' : 'ack', proxy: true, bootfile: plan.bootfile },
  };
}
