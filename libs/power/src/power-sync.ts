import { type Clock, dateOf, systemClock } from '@bm/core';
import type { PowerDriver, PowerState, PowerTarget } from './driver';

/** What the sync knows of one node (persisted in `bm_node_power`). */
export interface PowerRecord {
  nodeId: number;
  state: PowerState | null;
  checkedAt: Date;
  latencyMs: number | null;
  error: string | null;
  failures: number;
  nextCheckAt: Date;
  changedAt: Date | null;
}

export interface PowerRecordStore {
  load(nodeIds: number[]): Promise<Map<number, PowerRecord>>;
  save(r: PowerRecord): Promise<void>;
}

export interface PowerSyncOptions {
  intervalMs: number;
  /** Deadline of one status call. */
  deadlineMs: number;
  /** Longest back-off for a BMC that keeps failing. */
  maxBackoffMs?: number;
  onChange?(target: PowerTarget, from: PowerState | null, to: PowerState): Promise<void> | void;
  /** A BMC that did not answer its status read (the service counts these per BMC). */
  onError?(target: PowerTarget, error: unknown): void;
  /** Decides what is due, stamps the records and measures latencies (default: the system clock). */
  clock?: Clock;
}

export interface SweepReport {
  checked: number;
  skipped: number;
  failed: number;
  changed: number;
  durationMs: number;
}

/**
 * The periodic power-state sync: every node due is asked at once (one UDP socket, the client's
 * per-BMC queues), each with its own deadline, so a dead BMC costs only its own slot. A BMC
 * that fails is asked again after interval × 2^failures (capped), not on every sweep.
 */
export class PowerSync {
  constructor(
    private readonly driver: PowerDriver,
    private readonly store: PowerRecordStore,
    private readonly o: PowerSyncOptions,
  ) {}

  async sweep(targets: PowerTarget[]): Promise<SweepReport> {
    const clock = this.o.clock ?? systemClock;
    const started = clock.now();
    const known = await this.store.load(targets.map((t) => t.id));
    const due = targets.filter((t) => (known.get(t.id)?.nextCheckAt.getTime() ?? 0) <= started);
    const report: SweepReport = {
      checked: due.length,
      skipped: targets.length - due.length,
      failed: 0,
      changed: 0,
      durationMs: 0,
    };
    await Promise.all(
      due.map(async (t) => {
        const before = known.get(t.id);
        const t0 = clock.now();
        let record: PowerRecord;
        try {
          const state = await this.driver.getPowerState(t, this.o.deadlineMs);
          const changed = before?.state !== state;
          record = {
            nodeId: t.id,
            state,
            checkedAt: dateOf(clock),
            latencyMs: clock.now() - t0,
            error: null,
            failures: 0,
            nextCheckAt: new Date(clock.now() + this.o.intervalMs),
            changedAt: changed ? dateOf(clock) : (before?.changedAt ?? null),
          };
          if (changed) {
            report.changed++;
            await this.o.onChange?.(t, before?.state ?? null, state);
          }
        } catch (e) {
          report.failed++;
          this.o.onError?.(t, e);
          const failures = (before?.failures ?? 0) + 1;
          const backoff = Math.min(this.o.intervalMs * 2 ** failures, this.o.maxBackoffMs ?? 10 * 60_000);
          record = {
            nodeId: t.id,
            state: before?.state ?? null,
            checkedAt: dateOf(clock),
            latencyMs: null,
            error: (e as Error).message.slice(0, 500),
            failures,
            nextCheckAt: new Date(clock.now() + backoff),
            changedAt: before?.changedAt ?? null,
          };
        }
        await this.store.save(record);
      }),
    );
    report.durationMs = clock.now() - started;
    return report;
  }
}
