import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Clock, withLogContext } from '@bm/core';
import { NodeEventRepository } from '@bm/db';
import type { PowerState, PowerTarget } from '@bm/power';
import { CLOCK } from '@bm/service';

/** What the power service puts on a node's timeline. */
export type PowerEventKind =
  'power.state' | 'power.on' | 'power.off' | 'power.reboot' | 'power.boot_device' | 'power.changed';

const MASK = '******';

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
}

/**
 * The power service's writer of the node timeline (`bm_node_events`, source `power`): each power
 * call with its outcome and duration, and each change the power sync sees, also logged (reads
 * and first readings at DEBUG, the rest at INFO; every line of a call carries the node's ids).
 * Recording never waits on the database nor fails the call: the insert runs on its own, a
 * failed one is logged (warn).
 * The node's BMC password never reaches a detail (an error quoting it gets `******`).
 */
@Injectable()
export class PowerTimeline {
  private readonly log = new Logger('power-timeline');

  constructor(
    @Inject(NodeEventRepository) private readonly events: Pick<NodeEventRepository, 'record'>,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Runs one power call on `t` and records it as `kind`: `<what>: <outcome(value)>` (or just
   * `<what>`), or `<what> failed: <error>`; the call's value or error is passed on unchanged.
   */
  async call<T>(
    t: PowerTarget,
    kind: PowerEventKind,
    what: string,
    fn: () => Promise<T>,
    outcome?: (value: T) => string,
  ): Promise<T> {
    return withLogContext({ node_id: t.id, node_uuid: t.uuid }, async () => {
      const started = this.clock.now();
      try {
        const value = await fn();
        this.note(t, kind, outcome ? `${what}: ${outcome(value)}` : what, this.clock.now() - started);
        return value;
      } catch (e) {
        this.note(t, kind, `${what} failed: ${describe(e)}`, this.clock.now() - started);
        throw e;
      }
    });
  }

  /** The power sync read another state than it knew (`from` null: the node's first reading). */
  changed(t: PowerTarget, from: PowerState | null, to: PowerState): void {
    const detail = from
      ? `power state changed from ${from} to ${to} (power sync)`
      : `power state ${to} (first power sync)`;
    this.note(t, 'power.changed', detail, null, from === null);
  }

  private note(t: PowerTarget, kind: PowerEventKind, detail: string, durationMs: number | null, quiet = false): void {
    const safe = t.pm_password ? detail.split(t.pm_password).join(MASK) : detail;
    const line = `node ${t.id}: ${safe}${durationMs !== null ? ` (${durationMs} ms)` : ''}`;
    if (quiet || kind === 'power.state') this.log.debug(line);
    else this.log.log(line);
    void (async () => this.events.record({ nodeId: t.id, source: 'power', kind, detail: safe, durationMs }))().catch(
      (e: unknown) => this.log.warn(`node ${t.id}: ${kind} not written to the timeline: ${describe(e)}`),
    );
  }
}
