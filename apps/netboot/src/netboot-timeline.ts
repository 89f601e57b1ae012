import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import type { Clock } from '@bm/core';
import { type NodeEventInput, NodeEventRepository, NodeRepository } from '@bm/db';
import type { DhcpEvent, DhcpLogEntry } from '@bm/dhcp';
import { BM_CONFIG, CLOCK } from '@bm/service';
import type { TransferStats } from '@bm/tftp';

/** How long the enrolled MACs read for TFTP transfers are trusted (the DHCP server re-reads its own as often). */
export const MAC_CACHE_MS = 5000;

/** The DHCP answers that go on a node's timeline, and their kinds. */
const DHCP_KINDS: Partial<Record<DhcpEvent, string>> = { offer: 'dhcp.offer', ack: 'dhcp.ack' };
/** `pxelinux.cfg/01-<mac, lower case, dashes>` (libs/pxe macConfigName). */
const MAC_CONFIG = /^pxelinux\.cfg\/01-((?:[0-9a-f]{2}-){5}[0-9a-f]{2})$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type NetbootEvent = Omit<NodeEventInput, 'source'>;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `10.0.0.5:2070` or `[fe80::1]:2070` (TransferStats.client) → the address. */
function addressOf(client: string): string {
  return client.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

/** A PXE ROM's size probe: it asks with `tsize`, reads the OACK and stops (ERROR) before any data. */
function isSizeProbe(s: TransferStats): boolean {
  return s.outcome === 'aborted' && s.bytes === 0 && (s.error ?? '').startsWith('client sent ERROR');
}

function dhcpDetail(e: DhcpLogEntry): string {
  const address = e.ip ? ` ${e.ip}` : '';
  const how = [e.proxy ? 'proxy' : '', e.client ? `${e.client} client` : '', e.relay ? `via relay ${e.relay}` : '']
    .filter(Boolean)
    .join(', ');
  return `${e.event}${address} to ${e.mac}, boot file ${e.bootfile ?? 'none'}${how ? ` (${how})` : ''}`;
}

function tftpDetail(s: TransferStats): string {
  const to = `to ${addressOf(s.client)}`;
  if (s.outcome === 'complete') return `${s.file} ${to} (blksize ${s.blksize}, ${s.retransmits} retransmits)`;
  return `${s.file} ${s.outcome} after ${s.bytes} bytes ${to}${s.error ? `: ${s.error}` : ''}`;
}

/**
 * The netboot service's writer of the node timeline (`bm_node_events`, source `netboot`): the DHCP
 * offers and acks to an enrolled MAC (`dhcp.offer`, `dhcp.ack`: address and boot file), and one
 * event per finished TFTP transfer of a node's file (`tftp.file`: name, bytes, duration; a failed
 * one `tftp.error`). A transfer's node comes from its path (`pxelinux.cfg/01-<mac>` → the MAC's
 * node; `<instance_uuid>/…` → the node carrying the instance) or, for a top-level file (the boot
 * loader: `pxelinux.0`, `ldlinux.c32` …), from the client's address as our DHCP last acked it
 * (none in proxy mode); any other transfer is not recorded. Recording never delays nor fails an
 * answer or a transfer: lookups and inserts run on their own, a failure is logged (warn).
 */
@Injectable()
export class NetbootTimeline {
  private readonly log = new Logger('netboot-timeline');
  /** Enrolled MAC (lower case) → node, read at most every MAC_CACHE_MS, only when a transfer asks. */
  private macs?: { readAt: number; nodes: Map<string, number> };
  /** The address our DHCP last acked → its node. */
  private readonly acked = new Map<string, number>();

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(NodeRepository) private readonly nodes: Pick<NodeRepository, 'enrolledMacs' | 'instances'>,
    @Inject(NodeEventRepository) private readonly events: Pick<NodeEventRepository, 'record'>,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** One DHCP decision (DhcpServer's onLog). */
  dhcp(e: DhcpLogEntry): void {
    const kind = DHCP_KINDS[e.event];
    const nodeId = Number(e.nodeId);
    if (!kind || !Number.isInteger(nodeId) || nodeId < 1) return;
    if (e.event === 'ack' && e.ip) this.acked.set(e.ip, nodeId);
    this.record(async () => ({ nodeId, kind, detail: dhcpDetail(e) }));
  }

  /** One finished TFTP transfer (TftpServer's onTransfer). */
  tftp(s: TransferStats): void {
    if (isSizeProbe(s)) return;
    this.record(async () => {
      const node = await this.nodeOfTransfer(s);
      if (!node) return undefined;
      return {
        ...node,
        kind: s.outcome === 'complete' ? 'tftp.file' : 'tftp.error',
        detail: tftpDetail(s),
        durationMs: s.durationMs,
        bytes: s.bytes,
      };
    });
  }

  /** The node a transfer is for, from its path or (a top-level file) from the client's address. */
  private async nodeOfTransfer(s: TransferStats): Promise<Pick<NetbootEvent, 'nodeId' | 'instanceUuid'> | undefined> {
    if (s.path === undefined) return undefined; // refused before it named a file of ours
    const mac = MAC_CONFIG.exec(s.path)?.[1];
    if (mac) {
      const nodeId = await this.nodeOfMac(mac.replace(/-/g, ':'));
      return nodeId === undefined ? undefined : { nodeId };
    }
    const [top, ...below] = s.path.split('/');
    if (below.length === 0) {
      const nodeId = this.acked.get(addressOf(s.client));
      return nodeId === undefined ? undefined : { nodeId };
    }
    if (!UUID.test(top)) return undefined;
    const [row] = await this.nodes.instances({ instanceUuid: top });
    return row && { nodeId: row.node_id, instanceUuid: row.instance_uuid };
  }

  private async nodeOfMac(mac: string): Promise<number | undefined> {
    const now = this.clock.now();
    if (!this.macs || now - this.macs.readAt >= MAC_CACHE_MS) {
      const rows = await this.nodes.enrolledMacs(this.config.default.host);
      this.macs = { readAt: now, nodes: new Map(rows.map((r) => [r.address.toLowerCase(), r.node_id])) };
    }
    return this.macs.nodes.get(mac.toLowerCase());
  }

  /** Builds the event (undefined: nothing to record) and inserts it, without the caller waiting. */
  private record(build: () => Promise<NetbootEvent | undefined>): void {
    void (async () => {
      const e = await build();
      if (e) await this.events.record({ ...e, source: 'netboot' });
    })().catch((e: unknown) => this.log.warn(`timeline not written: ${message(e)}`));
  }
}
