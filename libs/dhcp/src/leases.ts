/**
 * Address reservations: every enrolled MAC gets one address from the configured range and keeps it
 * for all its boots (PXE ROM, iPXE, deploy ramdisk, the instance), across DHCPRELEASE and restarts
 * when the store is persisted. Synchronous on purpose so that `respond()` stays a pure function: a
 * database-backed store loads the (small: one row per enrolled NIC) reservation table at start and
 * writes changes through, e.g. by wrapping InMemoryLeaseStore and persisting from `onChange`.
 */
import { intToIp, ipToInt } from './ip';

export interface LeaseStore {
  /** The address reserved for this MAC, if any (released or not). */
  get(mac: string): string | undefined;
  /** The MAC's reservation, made from the range when it has none; undefined when the range is full. Never changes once made. */
  allocate(mac: string): string | undefined;
  /** The client gave its lease back (DHCPRELEASE): the lease becomes inactive, the reservation stays. */
  release(mac: string): void;
}

export interface Reservation {
  mac: string;
  ip: string;
  /** False after a DHCPRELEASE until the next allocate. */
  active: boolean;
}

export type ReservationChange = { event: 'reserved' | 'renewed' | 'released' | 'forgotten' } & Reservation;

export interface InMemoryLeaseStoreOptions {
  /** Addresses of the range never handed out (the server, the router, the TFTP server …). */
  exclude?: string[];
  /** Reservations to start from (as persisted earlier). */
  reservations?: Iterable<{ mac: string; ip: string; active?: boolean }>;
  /** Called after each change, for persistence or audit. */
  onChange?: (change: ReservationChange) => void;
}

/** Lower-case, colon-separated: the key every store uses. */
export function normaliseMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}

export class InMemoryLeaseStore implements LeaseStore {
  private readonly first: number;
  private readonly last: number;
  private readonly byMac = new Map<string, Reservation>();
  private readonly taken = new Set<number>();
  private readonly excluded = new Set<number>();
  private readonly onChange?: (change: ReservationChange) => void;
  /** Where the next search for a free address starts (addresses are handed out lowest first). */
  private cursor: number;

  constructor(range: { first: string; last: string }, opts: InMemoryLeaseStoreOptions = {}) {
    this.first = ipToInt(range.first);
    this.last = ipToInt(range.last);
    if (this.first > this.last) throw new RangeError(`lease range ${range.first}-${range.last} is empty`);
    for (const ip of opts.exclude ?? []) this.excluded.add(ipToInt(ip));
    for (const r of opts.reservations ?? []) {
      const mac = normaliseMac(r.mac);
      const n = ipToInt(r.ip);
      if (this.taken.has(n)) throw new RangeError(`address ${r.ip} is reserved twice`);
      if (this.byMac.has(mac)) throw new RangeError(`MAC ${mac} has two reservations`);
      this.byMac.set(mac, { mac, ip: r.ip, active: r.active ?? true });
      this.taken.add(n);
    }
    this.onChange = opts.onChange;
    this.cursor = this.first;
  }

  get(mac: string): string | undefined {
    return this.byMac.get(normaliseMac(mac))?.ip;
  }

  allocate(mac: string): string | undefined {
    const key = normaliseMac(mac);
    const existing = this.byMac.get(key);
    if (existing) {
      if (!existing.active) {
        existing.active = true;
        this.onChange?.({ event: 'renewed', ...existing });
      }
      return existing.ip;
    }
    const n = this.findFree();
    if (n === undefined) return undefined;
    const r: Reservation = { mac: key, ip: intToIp(n), active: true };
    this.byMac.set(key, r);
    this.taken.add(n);
    this.onChange?.({ event: 'reserved', ...r });
    return r.ip;
  }

  release(mac: string): void {
    const r = this.byMac.get(normaliseMac(mac));
    if (!r || !r.active) return;
    r.active = false;
    this.onChange?.({ event: 'released', ...r });
  }

  /** Drop a reservation for good (the NIC was unenrolled): its address may go to another MAC. */
  forget(mac: string): boolean {
    const key = normaliseMac(mac);
    const r = this.byMac.get(key);
    if (!r) return false;
    this.byMac.delete(key);
    const n = ipToInt(r.ip);
    this.taken.delete(n);
    if (n >= this.first && n < this.cursor) this.cursor = n;
    this.onChange?.({ event: 'forgotten', ...r });
    return true;
  }

  list(): Reservation[] {
    return [...this.byMac.values()].map((r) => ({ ...r }));
  }

  private findFree(): number | undefined {
    for (let n = this.cursor; n <= this.last; n++) {
      if (!this.taken.has(n) && !this.excluded.has(n)) {
        this.cursor = n + 1;
        return n;
      }
    }
    this.cursor = this.last + 1;
    return undefined;
  }
}

/**
 * Gives the addresses of deleted nodes back to the range: a reservation whose MAC no live node
 * has (enrollment hard-deletes a deleted node's interfaces) is forgotten once it has been so for
 * `graceMs`, so node churn cannot fill the range, while a node deleted and enrolled again within
 * the grace keeps its address. The grace is counted in memory: a restart starts it again (a
 * reservation is never forgotten early, at worst late).
 */
export class OrphanReservations {
  /** MAC → when it was first seen without a live node. */
  private readonly since = new Map<string, number>();

  constructor(
    private readonly store: Pick<InMemoryLeaseStore, 'list' | 'forget'>,
    private readonly graceMs: number,
  ) {}

  /** `enrolled`: the MACs of every live node (of every host); returns the MACs forgotten now. */
  sweep(enrolled: ReadonlySet<string>, now: number): string[] {
    const orphans = new Set<string>();
    const forgotten: string[] = [];
    for (const { mac } of this.store.list()) {
      if (enrolled.has(mac)) continue;
      const since = this.since.get(mac) ?? now;
      if (now - since >= this.graceMs && this.store.forget(mac)) forgotten.push(mac);
      else orphans.add(mac);
      this.since.set(mac, since);
    }
    for (const mac of this.since.keys()) if (!orphans.has(mac)) this.since.delete(mac);
    return forgotten;
  }
}
