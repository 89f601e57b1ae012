import { intToIp, ipToInt } from '@bm/dhcp';
import { Inject, Injectable } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { CommandRunner } from '@bm/exec';
import { BM_CONFIG } from '@bm/service';

/** An IPv4 address of an interface. */
export interface InterfaceAddress {
  address: string;
  netmask: string;
  cidr: string;
}

/** Interface name → its IPv4 addresses (an interface without any maps to []). */
export type HostInterfaces = Record<string, InterfaceAddress[]>;

/**
 * The host's interfaces from `ip -j addr show`: unlike os.networkInterfaces(), it also lists
 * interfaces without carrier (a bridge or tap whose VMs are not running yet).
 */
export async function readHostInterfaces(runner: CommandRunner): Promise<HostInterfaces> {
  const r = await runner.check('ip', ['-j', 'addr', 'show'], { timeoutMs: 5000 });
  const links = JSON.parse(r.stdout) as {
    ifname: string;
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  return Object.fromEntries(
    links.map((l) => [
      l.ifname,
      (l.addr_info ?? [])
        .filter((a) => a.family === 'inet')
        .map((a) => ({
          address: a.local,
          netmask: intToIp(a.prefixlen === 0 ? 0 : (0xffffffff << (32 - a.prefixlen)) >>> 0),
          cidr: `${a.local}/${a.prefixlen}`,
        })),
    ]),
  );
}

/** Where the netboot servers listen, worked out from `[baremetal] pxe_interface` and `[netboot]`. */
export interface BootNetwork {
  /** TFTP binds here (a unicast service: binding the interface's address keeps it off other networks). */
  tftpAddress: string;
  /**
   * DHCP binds here. Always the configured listen_address (default 0.0.0.0): Linux delivers
   * broadcasts to 255.255.255.255 only to wildcard sockets, and Node cannot bind a UDP socket to a
   * device, so the DHCP server hears every interface and answers enrolled MACs only.
   */
  dhcpAddress: string;
  /**
   * DHCP replies leave from here (DhcpServer replyAddress): pxe_interface's address when DHCP
   * listens on the wildcard, so a broadcast OFFER goes out of pxe_interface, not by the default route.
   */
  dhcpReplyAddress?: string;
  /** Things an operator should know (e.g. my_ip is not on pxe_interface). */
  notes: string[];
}

export interface BootNetworkConfig {
  pxeInterface: string;
  listenAddress: string;
  myIp: string;
  dhcpMode: 'full' | 'proxy' | 'off';
  range?: { first: string; last: string };
}

const inSubnet = (ip: string, net: string, mask: string) => ((ipToInt(ip) ^ ipToInt(net)) & ipToInt(mask)) === 0;

/**
 * Checks `pxe_interface` against the host's interfaces (readHostInterfaces) and derives the
 * listen addresses. Throws an Error naming the option when the interface is missing or has no
 * IPv4 address, or when the DHCP range is not on its network (a typo there would hand out
 * addresses nobody can route).
 */
export function resolveBootNetwork(c: BootNetworkConfig, interfaces: HostInterfaces): BootNetwork {
  const notes: string[] = [];
  if (!c.pxeInterface) return { tftpAddress: c.listenAddress, dhcpAddress: c.listenAddress, notes };
  const addrs = interfaces[c.pxeInterface];
  if (!addrs) {
    const known = Object.keys(interfaces).sort().join(', ');
    throw new Error(
      `[baremetal] pxe_interface: no interface named '${c.pxeInterface}' on this host (it has: ${known})`,
    );
  }
  const v4 = addrs;
  if (v4.length === 0) throw new Error(`[baremetal] pxe_interface: '${c.pxeInterface}' has no IPv4 address`);
  const own = v4.find((a) => a.address === c.myIp) ?? v4[0];
  if (own.address !== c.myIp) {
    notes.push(
      `[DEFAULT] my_ip ${c.myIp} is not an address of ${c.pxeInterface} (${v4.map((a) => a.address).join(', ')}): nodes will be sent to ${c.myIp} for TFTP`,
    );
  }
  if (
    c.dhcpMode === 'full' &&
    c.range &&
    !(inSubnet(c.range.first, own.address, own.netmask) && inSubnet(c.range.last, own.address, own.netmask))
  ) {
    throw new Error(
      `[netboot] dhcp_range ${c.range.first}-${c.range.last} is not on ${c.pxeInterface}'s network ${own.cidr}`,
    );
  }
  const wildcard = c.listenAddress === '0.0.0.0';
  if (!wildcard && !v4.some((a) => a.address === c.listenAddress)) {
    throw new Error(`[netboot] listen_address ${c.listenAddress} is not an address of pxe_interface ${c.pxeInterface}`);
  }
  return {
    tftpAddress: wildcard ? own.address : c.listenAddress,
    dhcpAddress: c.listenAddress,
    ...(wildcard ? { dhcpReplyAddress: own.address } : {}),
    notes,
  };
}

/**
 * The boot network of this host, resolved once for the DHCP and TFTP servers: `[baremetal]
 * pxe_interface` checked against the host's interfaces (read with `ip -j addr` only when set).
 */
@Injectable()
export class BootNetworkOfHost {
  private resolved?: Promise<BootNetwork>;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly runner: CommandRunner,
  ) {}

  get(): Promise<BootNetwork> {
    this.resolved ??= this.resolve();
    return this.resolved;
  }

  private async resolve(): Promise<BootNetwork> {
    const { baremetal: b, netboot: n } = this.config;
    const interfaces = b.pxe_interface ? await readHostInterfaces(this.runner) : {};
    const c = {
      pxeInterface: b.pxe_interface,
      listenAddress: n.listen_address,
      myIp: this.config.default.my_ip,
      dhcpMode: n.dhcp_mode,
      range: n.dhcp_range ?? undefined,
    };
    return resolveBootNetwork(c, interfaces);
  }
}
