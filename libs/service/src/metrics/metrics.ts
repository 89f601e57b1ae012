import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RpcObserver, RpcOutcome } from '@bm/messaging';

/** The Prometheus text exposition format, as `/metrics` answers it. */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Reads the messages ready in each named queue (see libs/messaging `queueDepths`). */
export type QueueDepthReader = (queues: readonly string[]) => Promise<Map<string, number>>;

// Buckets (seconds), chosen for what each histogram measures.
const RPC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SWEEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const PHASE_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
const DEPLOY_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * The metrics of one service process, on a registry of its own (tests build as many as they
 * like): the default process metrics (`process_*`, `nodejs_*`), the RPC metrics every service
 * has, its queues' depths, and the groups of the apps (power, IPMI, netboot, spawn, deploy), each
 * registered when the app first asks for it, so a service shows only what it does. Every name
 * has the `bm_` prefix; label values come from small fixed sets (outcomes, kinds, phases, method
 * and queue names, BMC addresses): never an instance or node uuid.
 */
export class Metrics {
  readonly registry = new Registry();
  /** RPC calls served and made: an RpcObserver for the RPC server and client (libs/messaging). */
  readonly rpc: RpcMetrics;
  private readonly queues = new Set<string>();
  private readDepths?: QueueDepthReader;
  private powerGroup?: PowerMetrics;
  private netbootGroup?: NetbootMetrics;
  private spawnGroup?: SpawnMetrics;
  private deployGroup?: DeployMetrics;
  private ipmiSources: IpmiCounters[] = [];

  constructor(o: { processMetrics?: boolean } = {}) {
    if (o.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.rpc = new RpcMetrics(this.registry);
    const watched = this.queues;
    const reader = () => this.readDepths;
    new Gauge({
      name: 'bm_queue_messages',
      help: "Messages ready in the service's own queues (its RPC topic queues; the deploy helper's job queue and its dead letters), read from the broker at scrape time by passive declares; a queue that does not exist or did not answer within 1 s is left out.",
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const read = reader();
        if (!read || watched.size === 0) return;
        const depths = await read([...watched]).catch(() => new Map<string, number>());
        for (const [queue, n] of depths) this.set({ queue }, n);
      },
    });
  }

  /** The queues whose depth `bm_queue_messages` reports (names fixed by configuration). */
  watchQueues(...queues: string[]): void {
    for (const q of queues) this.queues.add(q);
  }

  /** How queue depths are read: set once the broker connection exists (libs/service). */
  readQueuesWith(reader: QueueDepthReader): void {
    this.readDepths = reader;
  }

  /** The power service's sync metrics. */
  get power(): PowerMetrics {
    return (this.powerGroup ??= new PowerMetrics(this.registry));
  }

  /** netboot's DHCP and TFTP counters. */
  get netboot(): NetbootMetrics {
    return (this.netbootGroup ??= new NetbootMetrics(this.registry));
  }

  /** compute's spawns. */
  get spawn(): SpawnMetrics {
    return (this.spawnGroup ??= new SpawnMetrics(this.registry));
  }

  /** The deploy helper's deploys. */
  get deploy(): DeployMetrics {
    return (this.deployGroup ??= new DeployMetrics(this.registry));
  }

  /**
   * Reports an IPMI client's counters (libs/ipmi `IpmiClient.sessionsOpened`, `retransmits`,
   * read at scrape time) as `bm_ipmi_sessions_total` and `bm_ipmi_retransmits_total`.
   */
  watchIpmi(client: IpmiCounters): void {
    if (this.ipmiSources.length === 0) {
      const sources = this.ipmiSources;
      const total = (read: (c: IpmiCounters) => number) =>
        function (this: Counter) {
          this.reset();
          this.inc(sources.reduce((sum, c) => sum + read(c), 0));
        };
      new Counter({
        name: 'bm_ipmi_sessions_total',
        help: 'IPMI 2.0 (RMCP+) sessions the native IPMI client established with BMCs (a login; held sessions are reused).',
        registers: [this.registry],
        collect: total((c) => c.sessionsOpened),
      });
      new Counter({
        name: 'bm_ipmi_retransmits_total',
        help: 'IPMI requests the native IPMI client sent again because no answer came in time.',
        registers: [this.registry],
        collect: total((c) => c.retransmits),
      });
    }
    this.ipmiSources.push(client);
  }

  /** The text exposition of every metric (content type PROMETHEUS_CONTENT_TYPE). */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}

/** What `watchIpmi` reads of an IPMI client. */
export interface IpmiCounters {
  readonly sessionsOpened: number;
  readonly retransmits: number;
}

export class RpcMetrics implements RpcObserver {
  readonly calls: Counter<'method' | 'outcome'>;
  readonly duration: Histogram<'method'>;
  readonly clientCalls: Counter<'method' | 'outcome'>;
  readonly clientDuration: Histogram<'method'>;
  readonly clientCasts: Counter<'method' | 'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'bm_rpc_calls_total',
      help: 'RPC requests (calls and casts) the service\'s RPC server handled, by method and outcome: ok, or the kind of the error (invalid, not_found, conflict, failed, unavailable, timeout, …). A method not served, or a message that did not parse, counts as method "unknown".',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'bm_rpc_call_duration_seconds',
      help: "Time the service's RPC server took to handle a request, from its receipt to the method's end, by method.",
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers,
    });
    this.clientCalls = new Counter({
      name: 'bm_rpc_client_calls_total',
      help: 'RPC calls the service made to others (its RpcClient; casts are bm_rpc_client_casts_total), by method and outcome: ok, or the kind of the error (timeout, unavailable, failed, …).',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.clientDuration = new Histogram({
      name: 'bm_rpc_client_call_duration_seconds',
      help: 'Time an RPC call the service made took to be answered (or to fail), by method.',
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers,
    });
    this.clientCasts = new Counter({
      name: 'bm_rpc_client_casts_total',
      help: 'RPC casts (and fanout casts) the service sent, by method and outcome: ok once the broker confirmed it, or the kind of the error (unavailable: not sent by the publish deadline).',
      labelNames: ['method', 'outcome'],
      registers,
    });
  }

  served(method: string, outcome: RpcOutcome, seconds: number): void {
    this.calls.inc({ method, outcome });
    this.duration.observe({ method }, seconds);
  }

  called(method: string, outcome: RpcOutcome, seconds: number): void {
    this.clientCalls.inc({ method, outcome });
    this.clientDuration.observe({ method }, seconds);
  }

  cast(method: string, outcome: RpcOutcome): void {
    this.clientCasts.inc({ method, outcome });
  }
}

export class PowerMetrics {
  readonly syncDuration: Histogram;
  readonly syncErrors: Counter<'bmc'>;

  constructor(registry: Registry) {
    this.syncDuration = new Histogram({
      name: 'bm_power_sync_duration_seconds',
      help: 'Time one sweep of the power-state sync took (every node due is asked at once, each within [baremetal] ipmi_deadline).',
      buckets: SWEEP_BUCKETS,
      registers: [registry],
    });
    this.syncErrors = new Counter({
      name: 'bm_power_sync_errors_total',
      help: "Power-state reads of the sync that failed, by BMC (the node's pm_address).",
      labelNames: ['bmc'],
      registers: [registry],
    });
  }
}

/** DHCP events counted by kind (libs/dhcp `DhcpEvent`; `ignored-unenrolled` counts as `ignored`). */
export class NetbootMetrics {
  readonly dhcpPackets: Counter<'kind'>;
  readonly tftpTransfers: Counter<'outcome'>;
  readonly tftpBytes: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.dhcpPackets = new Counter({
      name: 'bm_dhcp_packets_total',
      help: 'DHCP requests netboot handled, by what it did: offer, ack, nak, ignored (not a PXE client, not enrolled, malformed), or release, inform, decline, range-full, other-server-seen.',
      labelNames: ['kind'],
      registers,
    });
    this.tftpTransfers = new Counter({
      name: 'bm_tftp_transfers_total',
      help: 'TFTP transfers netboot finished, by outcome: complete, timeout, error, aborted.',
      labelNames: ['outcome'],
      registers,
    });
    this.tftpBytes = new Counter({
      name: 'bm_tftp_bytes_total',
      help: 'Bytes TFTP clients acknowledged, over every transfer.',
      registers,
    });
  }

  /** Counts one DHCP event of libs/dhcp's responder. */
  dhcp(event: string): void {
    this.dhcpPackets.inc({ kind: event === 'ignored-unenrolled' ? 'ignored' : event });
  }

  /** Counts one finished TFTP transfer. */
  tftp(outcome: string, bytes: number): void {
    this.tftpTransfers.inc({ outcome });
    if (bytes > 0) this.tftpBytes.inc(bytes);
  }
}

export class SpawnMetrics {
  readonly spawns: Counter<'outcome'>;
  readonly phases: Histogram<'phase'>;

  constructor(registry: Registry) {
    this.spawns = new Counter({
      name: 'bm_spawns_total',
      help: 'Spawns (and rebuilds) compute finished, by outcome: active, failed, or deleted (the instance was deleted while it was spawning).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.phases = new Histogram({
      name: 'bm_spawn_phase_seconds',
      help: 'Time a spawn spent in each phase: prepare (PXE files and images), power (boot device, off, on), pxe_boot (until the deploy ramdisk called back), deploy (until the image was written), activate.',
      labelNames: ['phase'],
      buckets: PHASE_BUCKETS,
      registers: [registry],
    });
  }

  /** A SpawnObserver (apps/compute) on these metrics. */
  phase(name: string, seconds: number): void {
    this.phases.observe({ phase: name }, seconds);
  }

  ended(outcome: string): void {
    this.spawns.inc({ outcome });
  }
}

export class DeployMetrics {
  readonly bytes: Counter;
  readonly duration: Histogram<'outcome'>;

  constructor(registry: Registry) {
    this.bytes = new Counter({
      name: 'bm_deploy_bytes_total',
      help: "Image bytes the deploy helper wrote to nodes' disks (taken from the image service).",
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'bm_deploy_duration_seconds',
      help: 'Time one deploy took in the deploy helper (attach, partition, write, verify, detach, switch PXE, done), by outcome: done or failed.',
      labelNames: ['outcome'],
      buckets: DEPLOY_BUCKETS,
      registers: [registry],
    });
  }

  /** A DeployObserver (apps/deploy-helper) on these metrics. */
  written(bytes: number): void {
    if (bytes > 0) this.bytes.inc(bytes);
  }

  deployed(outcome: 'done' | 'failed', seconds: number): void {
    this.duration.observe({ outcome }, seconds);
  }
}
