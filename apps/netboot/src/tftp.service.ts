import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { TftpServer } from '@bm/tftp';
import { BM_CONFIG, Metrics, type NetbootMetrics } from '@bm/service';
import { NetbootTimeline } from './netboot-timeline';
import { BootNetworkOfHost } from './pxe-interface';

/**
 * The netboot TFTP server: `tftp_root` read-only on `listen_address:tftp_port` when
 * `[netboot] tftp_enabled`; requests for `<tftp_root>/…` (the absolute paths in Nova's configs)
 * are served from the root. Every transfer is logged with its size and outcome, and a node's files
 * go on its timeline, one event per file (NetbootTimeline).
 */
@Injectable()
export class TftpService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('tftp');
  /** bm_dhcp_packets_total, bm_tftp_transfers_total, bm_tftp_bytes_total. */
  private readonly counts: NetbootMetrics;
  private server?: TftpServer;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly bootNetwork: BootNetworkOfHost,
    private readonly timeline: NetbootTimeline,
    metrics: Metrics,
  ) {
    this.counts = metrics.netboot;
  }

  async onApplicationBootstrap(): Promise<void> {
    const n = this.config.netboot;
    if (!n.tftp_enabled) {
      this.log.log('TFTP off ([netboot] tftp_enabled)');
      return;
    }
    const root = this.config.baremetal.tftp_root;
    const net = await this.bootNetwork.get();
    this.server = new TftpServer({
      address: net.tftpAddress,
      port: n.tftp_port,
      root,
      rootAliases: [root],
      maxTransfersPerClient: n.tftp_max_transfers_per_client,
      readAheadBudget: n.tftp_read_ahead_mb * 1024 * 1024,
      onTransfer: (s) => {
        this.counts.tftp(s.outcome, s.bytes);
        this.log.log(`${s.outcome} ${s.client} ${s.file} ${s.bytes} bytes${s.error ? ` (${s.error})` : ''}`);
        this.timeline.tftp(s);
      },
    });
    await this.server.start();
    this.log.log(`TFTP ${root} on ${net.tftpAddress}:${this.server.port}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.stop();
  }
}
