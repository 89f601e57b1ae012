import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { DhcpReservationRepository, NodeRepository } from '@bm/db';
import {
  DhcpServer,
  type EnrolledInterface,
  InMemoryLeaseStore,
  OrphanReservations,
  normaliseMac,
  type ReservationChange,
  UnenrolledLog,
  validateResponderConfig,
} from '@bm/dhcp';
import { systemClock } from '@bm/core';
import { BM_CONFIG, Metrics, type NetbootMetrics } from '@bm/service';
import { NetbootTimeline } from './netboot-timeline';
import { BootNetworkOfHost } from './pxe-interface';

/** How often the enrolled MACs are re-read from nova_bm (the responder's lookup is in memory). */
const REFRESH_MS = 5000;

/**
 * The netboot DHCP server: `[netboot] dhcp_mode` full or proxy on `listen_address:dhcp_port`,
 * answering only MACs enrolled on this host, with reservations kept in bm_dhcp_reservations.
 * Offers and acks go on the node's timeline (NetbootTimeline).
 */
@Injectable()
export class DhcpService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('dhcp');
  /** bm_dhcp_packets_total, bm_tftp_transfers_total, bm_tftp_bytes_total. */
  private readonly counts: NetbootMetrics;
  private server?: DhcpServer;
  private enrolled = new Map<string, EnrolledInterface>();
  private timer?: NodeJS.Timeout;
  /** The reservation writes, one after another. */
  private persisting = Promise.resolve();
  /** Forgets the reservations of deleted nodes after `[netboot] dhcp_reservation_grace`. */
  private orphans?: OrphanReservations;
  /** Requests from MACs we do not serve: a line for the first ones, then a summary a minute. */
  private readonly unenrolled = new UnenrolledLog({ clock: systemClock, onSummary: (l) => this.log.log(l) });

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly reservations: DhcpReservationRepository,
    private readonly bootNetwork: BootNetworkOfHost,
    private readonly timeline: NetbootTimeline,
    metrics: Metrics,
  ) {
    this.counts = metrics.netboot;
  }

  async onApplicationBootstrap(): Promise<void> {
    const n = this.config.netboot;
    if (n.dhcp_mode === 'off') {
      this.log.log('DHCP off ([netboot] dhcp_mode)');
      return;
    }
    if (n.dhcp_mode === 'full' && !n.dhcp_range)
      throw new Error('[netboot] dhcp_range is required when dhcp_mode = full');
    const my = this.config.default.my_ip;
    const cfg = {
      serverIp: my,
      mode: n.dhcp_mode,
      range: n.dhcp_range ?? { first: my, last: my },
      netmask: n.dhcp_netmask,
      ...(n.dhcp_router ? { router: n.dhcp_router } : {}),
      leaseTimeS: n.dhcp_lease_time,
      tftpServer: my,
      bootfileBios: this.config.baremetal.pxe_bootfile_name,
      bootfileUefi: n.uefi_bootfile_name,
      ...(n.ipxe_script_url ? { ipxeScriptUrl: n.ipxe_script_url } : {}),
      broadcastAddress: n.dhcp_broadcast,
    };
    validateResponderConfig(cfg);
    const net = await this.bootNetwork.get();
    for (const note of net.notes) this.log.warn(note);
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS).unref();
    const leases = new InMemoryLeaseStore(cfg.range, {
      exclude: [my, ...(n.dhcp_router ? [n.dhcp_router] : [])],
      reservations: await this.reservations.all(),
      // In order: an address forgotten (its row deleted) may be reserved again by the next request.
      onChange: (c) => void (this.persisting = this.persisting.then(() => this.persist(c))),
    });
    this.orphans = new OrphanReservations(leases, n.dhcp_reservation_grace * 1000);
    this.server = new DhcpServer({
      address: net.dhcpAddress,
      ...(net.dhcpReplyAddress ? { replyAddress: net.dhcpReplyAddress } : {}),
      port: n.dhcp_port,
      context: { config: cfg, lookup: (mac) => this.enrolled.get(mac), leases },
      onLog: (e) => {
        this.counts.dhcp(e.event);
        if (e.event === 'ignored-unenrolled' && !this.unenrolled.admit(e.mac)) return;
        this.log.log(
          `${e.event} ${e.mac}${e.ip ? ` ${e.ip}` : ''}${e.bootfile ? ` ${e.bootfile}` : ''}${e.reason ? ` (${e.reason})` : ''}`,
        );
        this.timeline.dhcp(e);
      },
      onError: (e) => this.log.warn(e.message),
    });
    await this.server.start();
    this.log.log(
      `DHCP (${n.dhcp_mode}) on ${net.dhcpAddress}:${this.server.ports.join(',')}${this.config.baremetal.pxe_interface ? ` (all interfaces hear broadcasts; replies leave from ${net.dhcpReplyAddress ?? net.dhcpAddress} on pxe_interface ${this.config.baremetal.pxe_interface})` : ''}, next-server ${my}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.server?.stop();
    await this.persisting; // the last reservation writes, before the database closes
    this.unenrolled.flush();
  }

  private async refresh(): Promise<void> {
    try {
      const rows = await this.nodes.enrolledMacs(this.config.default.host);
      this.enrolled = new Map(rows.map((r) => [r.address, { nodeId: String(r.node_id) }]));
      if (this.orphans) {
        const live = new Set([...(await this.reservations.liveMacs())].map(normaliseMac));
        const gone = this.orphans.sweep(live, Date.now());
        if (gone.length) this.log.log(`forgot the DHCP reservations of deleted nodes: ${gone.join(', ')}`);
      }
    } catch (e) {
      this.log.warn(`cannot read enrolled interfaces: ${(e as Error).message}`);
    }
  }

  private async persist(c: ReservationChange): Promise<void> {
    try {
      if (c.event === 'forgotten') await this.reservations.forget(c.mac);
      else await this.reservations.save({ mac: c.mac, ip: c.ip, active: c.active });
    } catch (e) {
      this.log.warn(`cannot persist the reservation of ${c.mac}: ${(e as Error).message}`);
    }
  }
}
