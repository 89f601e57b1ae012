/**
 * The scheduler's view of bare-metal nodes: Nova's BaremetalHostManager, with the Juno fix of the
 * legacy bug 1260265 built in (a node is consumed whole, whatever the flavor's size). Pure code: the
 * scheduler service feeds it the compute hosts' resource reports and asks it for destinations.
 *
 * One host state per (compute host, node uuid). Filters, each naming why it rejects a node:
 *   MaintenanceFilter       not a node in maintenance (the request carries them)
 *   ignore_hosts, force_hosts, force_nodes, requested_destination
 *                           where the request itself says it may (not) go, when it says so
 *   RetryFilter             not a node this request already failed on
 *   ComputeFilter           the report is fresh (stale hosts expire)
 *   ExactCore/Ram/DiskFilter   (policy `exact`, Nova's): the flavor equals the node's free resources
 *   Core/Ram/DiskFilter        (policy `at-least`): the node has at least what the flavor asks
 *   ComputeCapabilitiesFilter  flavor extra specs (e.g. `cpu_arch: x86_64`) against the node's stats
 * Among the nodes that pass, `exact` keeps Nova's order (most free RAM first, then host and node
 * name, so runs are repeatable); `at-least` picks the smallest node that fits (least RAM, then
 * fewest CPUs, then least disk), as MAAS does, so big nodes stay free for big flavors. The nodes
 * that passed but were not chosen are the alternates Nova's conductor may retry a build on.
 */
import { type Clock, systemClock } from '@bm/core';
import { NoValidHost, type Rejection } from './errors';
import { capabilityKey, compileExtraSpec } from './extra-specs';
import type { ResourceDict } from './resources';

/** A compute host's report for one node: the fields of Nova's get_available_resource(nodename) the scheduler reads. */
export type NodeResourceReport = Pick<
  ResourceDict,
  'hypervisor_hostname' | 'vcpus' | 'memory_mb' | 'local_gb' | 'vcpus_used' | 'memory_mb_used' | 'local_gb_used'
> & {
  host: string;
  cpu_info?: string;
  /** Extra specs as the node reports them: an object, or the JSON string Icehouse stored. */
  stats?: Record<string, string> | string;
};

export interface Flavor {
  name?: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb?: number;
  /** MB. */
  swap?: number;
  extra_specs?: Record<string, string>;
}

export type MatchPolicy = 'exact' | 'at-least';

/** One schedulable node. Numbers are what is free now, after the consumption this process did. */
export class BaremetalNodeState {
  vcpusTotal = 0;
  vcpusUsed = 0;
  totalRamMb = 0;
  freeRamMb = 0;
  freeDiskMb = 0;
  stats: Record<string, string> = {};
  updatedAt = 0;

  constructor(
    readonly host: string,
    readonly nodename: string,
  ) {}

  update(r: NodeResourceReport, now: number): void {
    this.vcpusTotal = r.vcpus;
    this.vcpusUsed = r.vcpus_used;
    this.totalRamMb = r.memory_mb;
    this.freeRamMb = r.memory_mb - r.memory_mb_used;
    this.freeDiskMb = (r.local_gb - r.local_gb_used) * 1024;
    this.stats = typeof r.stats === 'string' ? parseStats(r.stats) : { ...(r.stats ?? {}) };
    this.updatedAt = now;
  }

  /** A bare-metal node runs one instance: all of it is taken, whatever the flavor asked. */
  consumeWhole(): void {
    this.vcpusUsed = this.vcpusTotal;
    this.freeRamMb = 0;
    this.freeDiskMb = 0;
  }

  get vcpusFree(): number {
    return this.vcpusTotal - this.vcpusUsed;
  }

  /** A capability by name: the host state's own figures, else its stats (Nova H+ lookup order). */
  capability(key: string): string | undefined {
    switch (key) {
      case 'vcpus_total':
        return String(this.vcpusTotal);
      case 'vcpus_used':
        return String(this.vcpusUsed);
      case 'free_ram_mb':
        return String(this.freeRamMb);
      case 'total_usable_ram_mb':
        return String(this.totalRamMb);
      case 'free_disk_mb':
        return String(this.freeDiskMb);
      default:
        return this.stats[key];
    }
  }
}

function parseStats(json: string): Record<string, string> {
  try {
    const v = JSON.parse(json) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
  } catch {
    // fall through: unreadable stats are no stats
  }
  return {};
}

export interface SelectRequest {
  flavor: Flavor;
  /** How many instances (each on its own node). */
  count?: number;
  /** (host, node) pairs already tried for this request (Nova's filter_properties.retry.hosts). */
  tried?: [string, string][];
  /**
   * Compute hosts none of whose nodes may be chosen (Nova's ignore_hosts, e.g. a resize that must
   * leave its host), compared case-insensitively as Nova's host manager does.
   */
  ignoreHosts?: string[];
  /**
   * Only nodes of these compute hosts, or only these nodes (Nova's force_hosts, force_nodes: an
   * admin's `--availability-zone az:host:node`). Unlike Nova, the other filters still run: a
   * bare-metal node taken or of another size cannot be forced into holding a second instance.
   */
  forceHosts?: string[];
  forceNodes?: string[];
  /** Only this host (and node, when given): Nova's requested_destination (a targeted boot or move). */
  destination?: { host: string; node?: string };
  /**
   * How many other nodes to name per instance besides the one chosen (Nova's alternates, tried by
   * its conductor when a build fails there): they pass every filter, are not consumed, and are
   * never one of the nodes chosen for this request. Default 0.
   */
  alternates?: number;
  /**
   * Nodes in maintenance (bm_nodes.maintenance, read by the scheduler for each request), by node
   * name, with the operator's reason: never chosen nor named as alternates (MaintenanceFilter).
   */
  maintenance?: ReadonlyMap<string, string | null>;
}

/** The nodes chosen (consumed), and the alternates: the next best that passed, not consumed. */
export interface Placement {
  chosen: BaremetalNodeState[];
  alternates: BaremetalNodeState[];
}

interface Filter {
  name: string;
  /** undefined = passes; a string = why not. Only called on the nodes `pass` rejected, when a request fails. */
  check(n: BaremetalNodeState, f: Flavor): string | undefined;
  /** The fast test (no strings built); defaults to `check(...) === undefined`. */
  pass?(n: BaremetalNodeState, f: Flavor): boolean;
}

const diskMbOf = (f: Flavor) => 1024 * (f.root_gb + (f.ephemeral_gb ?? 0)) + (f.swap ?? 0);

const EXACT: Filter[] = [
  {
    name: 'ExactCoreFilter',
    pass: (n, f) => n.vcpusTotal !== 0 && f.vcpus === n.vcpusFree,
    check: (n, f) =>
      n.vcpusTotal === 0
        ? 'reports 0 vCPUs'
        : f.vcpus === n.vcpusFree
          ? undefined
          : `${n.vcpusFree} free vCPUs, flavor asks ${f.vcpus}`,
  },
  {
    name: 'ExactRamFilter',
    pass: (n, f) => f.memory_mb === n.freeRamMb,
    check: (n, f) =>
      f.memory_mb === n.freeRamMb ? undefined : `${n.freeRamMb} MB free RAM, flavor asks ${f.memory_mb}`,
  },
  {
    name: 'ExactDiskFilter',
    pass: (n, f) => diskMbOf(f) === n.freeDiskMb,
    check: (n, f) =>
      diskMbOf(f) === n.freeDiskMb ? undefined : `${n.freeDiskMb} MB free disk, flavor asks ${diskMbOf(f)}`,
  },
];

const AT_LEAST: Filter[] = [
  {
    name: 'CoreFilter',
    pass: (n, f) => n.vcpusTotal !== 0 && n.vcpusUsed === 0 && f.vcpus <= n.vcpusFree,
    check: (n, f) =>
      n.vcpusTotal === 0
        ? 'reports 0 vCPUs'
        : n.vcpusUsed > 0
          ? 'in use'
          : f.vcpus <= n.vcpusFree
            ? undefined
            : `${n.vcpusFree} free vCPUs, flavor asks ${f.vcpus}`,
  },
  {
    name: 'RamFilter',
    pass: (n, f) => f.memory_mb <= n.freeRamMb,
    check: (n, f) =>
      f.memory_mb <= n.freeRamMb ? undefined : `${n.freeRamMb} MB free RAM, flavor asks ${f.memory_mb}`,
  },
  {
    name: 'DiskFilter',
    pass: (n, f) => diskMbOf(f) <= n.freeDiskMb,
    check: (n, f) =>
      diskMbOf(f) <= n.freeDiskMb ? undefined : `${n.freeDiskMb} MB free disk, flavor asks ${diskMbOf(f)}`,
  },
];

/** ComputeCapabilitiesFilter for one flavor: its extra specs compiled once, then tested per node. */
function capabilitiesFilter(f: Flavor): Filter {
  const specs = Object.entries(f.extra_specs ?? {}).flatMap(([key, want]) => {
    const cap = capabilityKey(key);
    return cap === undefined ? [] : [{ cap, want, test: compileExtraSpec(want) }];
  });
  return {
    name: 'ComputeCapabilitiesFilter',
    pass: (n) => specs.every((s) => s.test(n.capability(s.cap))),
    check: (n) => {
      const bad = specs.find((s) => !s.test(n.capability(s.cap)));
      if (!bad) return undefined;
      const have = n.capability(bad.cap);
      return `${bad.cap} is ${have === undefined ? 'not reported' : JSON.stringify(have)}, flavor asks ${JSON.stringify(bad.want)}`;
    },
  };
}

export interface HostManagerOptions {
  policy?: MatchPolicy;
  /** A node whose last report is older than this is not scheduled to (ms; default 3 report periods). */
  staleAfterMs?: number;
  /** Report ages are measured on it (default: the system clock). */
  clock?: Clock;
}

const sizeKey = (vcpus: number, ramMb: number, diskMb: number) => `${vcpus}/${ramMb}/${diskMb}`;

export class BaremetalHostManager {
  private readonly nodes = new Map<string, BaremetalNodeState>();
  /**
   * Nodes by their free (vCPUs, RAM, disk), each bucket kept in name order: under the exact
   * policy only the bucket equal to the flavor can pass, and all of its nodes weigh the same, so
   * a request walks that bucket in order and stops at the first nodes that pass (the same choice
   * as weighing them all, without looking at the rest). The full scan still runs when the bucket
   * is not enough, to name why every node was rejected.
   */
  private readonly bySize = new Map<string, BaremetalNodeState[]>();
  private readonly keyOf = new Map<BaremetalNodeState, string>();
  private readonly policy: MatchPolicy;
  private readonly staleAfterMs: number;
  private readonly clock: Clock;

  constructor(o: HostManagerOptions = {}) {
    this.policy = o.policy ?? 'exact';
    this.staleAfterMs = o.staleAfterMs ?? 180_000;
    this.clock = o.clock ?? systemClock;
  }

  /** A compute host's report for one node (new node, or fresh figures for a known one). */
  report(r: NodeResourceReport): void {
    const key = `${r.host}\u0000${r.hypervisor_hostname}`;
    let n = this.nodes.get(key);
    if (!n) this.nodes.set(key, (n = new BaremetalNodeState(r.host, r.hypervisor_hostname)));
    this.unindex(n);
    n.update(r, this.clock.now());
    this.index(n);
  }

  /** Forgets a node (deleted on its compute host). */
  remove(host: string, nodename: string): void {
    const key = `${host}\u0000${nodename}`;
    const n = this.nodes.get(key);
    if (n) this.unindex(n);
    this.nodes.delete(key);
  }

  private index(n: BaremetalNodeState): void {
    const k = sizeKey(n.vcpusFree, n.freeRamMb, n.freeDiskMb);
    let bucket = this.bySize.get(k);
    if (!bucket) this.bySize.set(k, (bucket = []));
    bucket.splice(firstNotBefore(bucket, n), 0, n);
    this.keyOf.set(n, k);
  }

  private unindex(n: BaremetalNodeState): void {
    const k = this.keyOf.get(n);
    if (k === undefined) return;
    const bucket = this.bySize.get(k)!;
    bucket.splice(firstNotBefore(bucket, n), 1);
    if (bucket.length === 0) this.bySize.delete(k);
    this.keyOf.delete(n);
  }

  /** Drops nodes whose reports stopped; returns how many. */
  expireStale(): number {
    const cutoff = this.clock.now() - this.staleAfterMs;
    let n = 0;
    for (const [k, s] of this.nodes) {
      if (s.updatedAt >= cutoff) continue;
      this.unindex(s);
      this.nodes.delete(k);
      n++;
    }
    return n;
  }

  get size(): number {
    return this.nodes.size;
  }

  states(): BaremetalNodeState[] {
    return [...this.nodes.values()];
  }

  /**
   * Picks a node for each of `count` instances, consuming each whole (so one request never gets
   * the same node twice, and the next request does not see it free until a report says so).
   * Throws NoValidHost naming, per filter, how many nodes it stopped.
   */
  select(req: SelectRequest): BaremetalNodeState[] {
    return this.place(req).chosen;
  }

  /**
   * select, plus up to `req.alternates` other nodes that passed the same filters (in the same
   * order of preference), as Nova's scheduler returns them with each chosen host.
   */
  place(req: SelectRequest): Placement {
    const count = req.count ?? 1;
    const alternates = req.alternates ?? 0;
    const tried = new Set((req.tried ?? []).map(([h, n]) => `${h}\u0000${n}`));
    const cutoff = this.clock.now() - this.staleAfterMs;
    const filters: Filter[] = [
      ...maintenanceFilter(req),
      ...requestedPlaceFilters(req),
      {
        name: 'RetryFilter',
        pass: (n) => tried.size === 0 || !tried.has(`${n.host}\u0000${n.nodename}`),
        check: (n) => (tried.has(`${n.host}\u0000${n.nodename}`) ? 'already tried for this request' : undefined),
      },
      {
        name: 'ComputeFilter',
        pass: (n) => n.updatedAt >= cutoff,
        check: (n) =>
          n.updatedAt < cutoff ? `no report for ${Math.round((this.clock.now() - n.updatedAt) / 1000)} s` : undefined,
      },
      ...(this.policy === 'exact' ? EXACT : AT_LEAST),
      capabilitiesFilter(req.flavor),
    ];
    const scan = (nodes: Iterable<BaremetalNodeState>, enough = Infinity) => {
      const passed: BaremetalNodeState[] = [];
      const failed: [BaremetalNodeState, Filter][] = [];
      for (const n of nodes) {
        const stop = filters.find((f) => !(f.pass ? f.pass(n, req.flavor) : f.check(n, req.flavor) === undefined));
        if (stop) failed.push([n, stop]);
        else if (passed.push(n) === enough) break;
      }
      return { passed, failed };
    };
    const f = req.flavor;
    let { passed, failed } =
      this.policy === 'exact'
        ? scan(this.bySize.get(sizeKey(f.vcpus, f.memory_mb, diskMbOf(f))) ?? [], count + alternates)
        : scan(this.nodes.values());
    if (passed.length < count && this.policy === 'exact') ({ passed, failed } = scan(this.nodes.values()));
    if (passed.length < count) {
      const rejections: Rejection[] = failed.map(([n, f]) => ({
        host: n.host,
        nodename: n.nodename,
        filter: f.name,
        reason: f.check(n, req.flavor) ?? '',
      }));
      const summary = filters
        .map((f) => [f.name, rejections.filter((r) => r.filter === f.name).length] as const)
        .filter(([, k]) => k > 0)
        .map(([f, k]) => `${f} rejected ${k}`)
        .join(', ');
      const what = `${passed.length} of ${this.nodes.size} nodes fit flavor ${req.flavor.name ?? `${req.flavor.vcpus} vCPU/${req.flavor.memory_mb} MB/${req.flavor.root_gb} GB`}${count > 1 ? `, ${count} needed` : ''}`;
      throw new NoValidHost(`${what}${summary ? ` (${summary})` : ''}.`, rejections);
    }
    const order = this.policy === 'exact' ? byMostFreeRam : bySmallest;
    const chosen = best(passed, count, order);
    // Picked before the chosen are consumed, so that they are weighed as they were when chosen.
    const taken = new Set(chosen);
    const others =
      alternates > 0
        ? best(
            passed.filter((n) => !taken.has(n)),
            alternates,
            order,
          )
        : [];
    for (const n of chosen) {
      this.unindex(n);
      n.consumeWhole();
      this.index(n);
    }
    return { chosen, alternates: others };
  }
}

/** MaintenanceFilter, when some node is in maintenance: such a node is skipped, its reason named. */
function maintenanceFilter(req: SelectRequest): Filter[] {
  const m = req.maintenance;
  if (!m?.size) return [];
  return [
    {
      name: 'MaintenanceFilter',
      pass: (n) => !m.has(n.nodename),
      check: (n) =>
        m.has(n.nodename) ? `in maintenance${m.get(n.nodename) ? `: ${m.get(n.nodename)}` : ''}` : undefined,
    },
  ];
}

/**
 * The request's own limits on where it may go (ignore_hosts, force_hosts, force_nodes,
 * requested_destination), as filters so that NoValidHost counts the nodes each of them stopped.
 * Only those the request sets are returned: a plain request is filtered as before.
 */
function requestedPlaceFilters(req: SelectRequest): Filter[] {
  const out: Filter[] = [];
  const lower = (xs: string[]) => new Set(xs.map((x) => x.toLowerCase()));
  if (req.ignoreHosts?.length) {
    const ignored = lower(req.ignoreHosts);
    out.push({
      name: 'ignore_hosts',
      check: (n) => (ignored.has(n.host.toLowerCase()) ? `host ${n.host} is to be ignored` : undefined),
    });
  }
  if (req.forceHosts?.length) {
    const forced = lower(req.forceHosts);
    out.push({
      name: 'force_hosts',
      check: (n) => (forced.has(n.host.toLowerCase()) ? undefined : `host ${n.host} is not a forced host`),
    });
  }
  if (req.forceNodes?.length) {
    // Node names are compared as given (Nova compares them exactly, only host names case-insensitively).
    const forced = new Set(req.forceNodes);
    out.push({
      name: 'force_nodes',
      check: (n) => (forced.has(n.nodename) ? undefined : 'not a forced node'),
    });
  }
  const d = req.destination;
  if (d) {
    out.push({
      name: 'requested_destination',
      check: (n) =>
        n.host === d.host && (!d.node || n.nodename === d.node)
          ? undefined
          : `not the requested destination ${d.node ? `${d.host}/${d.node}` : d.host}`,
    });
  }
  return out;
}

const byName = (a: BaremetalNodeState, b: BaremetalNodeState) =>
  a.host < b.host ? -1 : a.host > b.host ? 1 : a.nodename < b.nodename ? -1 : a.nodename > b.nodename ? 1 : 0;
/** Where `n` goes in a bucket kept in name order (binary search). */
function firstNotBefore(bucket: BaremetalNodeState[], n: BaremetalNodeState): number {
  let lo = 0;
  let hi = bucket.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byName(bucket[mid], n) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const byMostFreeRam = (a: BaremetalNodeState, b: BaremetalNodeState) => b.freeRamMb - a.freeRamMb || byName(a, b);
const bySmallest = (a: BaremetalNodeState, b: BaremetalNodeState) =>
  a.freeRamMb - b.freeRamMb || a.vcpusFree - b.vcpusFree || a.freeDiskMb - b.freeDiskMb || byName(a, b);

/** The first `count` of `xs` in `order`, without sorting all of them (count is usually 1). */
function best<T>(xs: T[], count: number, order: (a: T, b: T) => number): T[] {
  if (count * 8 >= xs.length) return [...xs].sort(order).slice(0, count);
  const top: T[] = [];
  for (const x of xs) {
    if (top.length === count && order(x, top[count - 1]) >= 0) continue;
    let i = top.length === count ? count - 1 : top.length;
    while (i > 0 && order(x, top[i - 1]) < 0) i--;
    top.splice(i, 0, x);
    if (top.length > count) top.pop();
  }
  return top;
}
