import { randomUUID } from 'node:crypto';
import type { SchedulerClient } from '@bm/contracts';
import { type Clock, NovaBmError } from '@bm/core';
import type { Flavor, FlavorRepository, InstanceRow, NodeRepository } from '@bm/db';
import type { ReceivedNotification } from '@bm/messaging';

/** The task_states a boot goes through, in order: `waitFor` is one of them. */
export const BOOT_STATES = ['building', 'prepared', 'deploying', 'deploy complete', 'active'] as const;
export type BootState = (typeof BOOT_STATES)[number];

export interface BootRequest {
  name: string;
  flavor: string;
  /**
   * The image as Nova's API puts it in the request spec (`id`, `name`, `properties` with its
   * kernel_id and ramdisk_id); the flavor's `baremetal:deploy_*_id` extra specs or compute's
   * `[baremetal] deploy_*` give the deploy pair.
   */
  image: Record<string, unknown>;
  waitFor: BootState;
  timeoutS: number;
  /**
   * Instances in the one request (`nova boot --min-count N --max-count N`): the scheduler finds a
   * node for each or fails them all (NoValidHost); named `<name>-<n>` as Nova's
   * multi_instance_display_name_template (`%(name)s-%(count)d`) names them. Default 1.
   */
  count?: number;
}

/** The scheduler found no node, or gave up: from its scheduler.run_instance ERROR notification. */
export class BootFailed extends NovaBmError {
  readonly name = 'BootFailed';
  readonly kind = 'failed';
}

export class BootTimedOut extends NovaBmError {
  readonly name = 'BootTimedOut';
  readonly kind = 'timeout';
}

export interface BootPorts {
  flavors: FlavorRepository;
  nodes: NodeRepository;
  scheduler: SchedulerClient;
  /** Starts listening to the notifications (before the request is sent) and calls `on` with each. */
  listen(pool: string, on: (n: ReceivedNotification) => void): Promise<{ stop(): Promise<void> }>;
  clock: Clock;
  /** Progress lines (`instance … : building`). */
  progress(line: string): void;
}

/** The flavor as Nova's request_spec.instance_type carries it. */
export function flavorView(f: Flavor) {
  return {
    id: f.id,
    name: f.name,
    vcpus: f.vcpus,
    memory_mb: f.memory_mb,
    root_gb: f.root_gb,
    ephemeral_gb: f.ephemeral_gb,
    swap: f.swap,
    extra_specs: JSON.parse(f.extra_specs) as Record<string, string>,
  };
}

/** How long a failed build may wait for the scheduler to send it elsewhere before the boot is failed. */
export const RESCHEDULE_GRACE_MS = 10_000;

/**
 * What the notifications say of one boot: the scheduler's run_instance ERROR (no node, or it gave
 * up) fails it at once; compute's create.error fails it unless the scheduler places the instance
 * again (run_instance.scheduled) within RESCHEDULE_GRACE_MS: compute reschedules only failures
 * that another node may cure, and a request that is itself wrong (a missing image) is not sent on.
 */
class BuildFailures {
  private final?: string;
  private computeFailed?: { why: string; at: number };

  constructor(private readonly clock: Clock) {}

  seen(uuid: string, n: ReceivedNotification): void {
    const p = n.payload as { instance_id?: string; reason?: string; message?: string; exception?: string } | undefined;
    if (p?.instance_id !== uuid) return;
    if (n.eventType === 'scheduler.run_instance' && n.priority === 'ERROR')
      this.final = `${p.exception ?? 'Error'}: ${p.reason ?? ''}`;
    else if (n.eventType === 'compute.instance.create.error')
      this.computeFailed = { why: `${p.exception ?? 'Error'}: ${p.message ?? ''}`, at: this.clock.now() };
    else if (n.eventType === 'scheduler.run_instance.scheduled') this.computeFailed = undefined;
  }

  failure(): string | undefined {
    if (this.final) return this.final;
    const c = this.computeFailed;
    return c && this.clock.now() - c.at >= RESCHEDULE_GRACE_MS ? c.why : undefined;
  }
}

/**
 * `nova boot` against the baremetal driver: run_instance cast to the scheduler (as Nova's API
 * did), then the instance followed in nova_bm until its node reaches `waitFor`. The scheduler's
 * NoValidHost arrives as a notification, so the listener starts before the cast.
 */
export class BootInstance {
  constructor(private readonly p: BootPorts) {}

  /** One instance: its row once its node reached `waitFor`. */
  async run(r: BootRequest): Promise<InstanceRow> {
    return (await this.runAll({ ...r, count: 1 }))[0];
  }

  /** `count` instances in one request (default 1): their rows, in request order, once each reached `waitFor`. */
  async runAll(r: BootRequest): Promise<InstanceRow[]> {
    const { f, uuids, names } = await this.plan(r);
    const failures = uuids.map(() => new BuildFailures(this.p.clock));
    const listener = await this.p.listen(`bmctl-boot-${uuids[0]}`, (n) =>
      uuids.forEach((uuid, i) => failures[i].seen(uuid, n)),
    );
    try {
      await this.send(r, f, uuids);
      const labels = uuids.map((uuid, i) => `instance ${uuid} (${names[i]})`);
      labels.forEach((l) => this.p.progress(`${l}: requested`));
      return await this.follow(uuids, labels, r, (i) => failures[i].failure());
    } finally {
      await listener.stop();
    }
  }

  /**
   * The request only (`bmctl boot --no-wait`): resolves once the scheduler's queue has it, with
   * the instances' uuids and names; what becomes of them is for `instance show` to tell.
   */
  async request(r: Omit<BootRequest, 'waitFor' | 'timeoutS'>): Promise<{ instance: string; name: string }[]> {
    const { f, uuids, names } = await this.plan(r);
    await this.send(r, f, uuids);
    return uuids.map((instance, i) => ({ instance, name: names[i] }));
  }

  /** The flavor, and a uuid and a name for each instance. */
  private async plan(r: Pick<BootRequest, 'flavor' | 'name' | 'count'>) {
    const count = r.count ?? 1;
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`count must be a positive integer: ${count}`);
    const f = await this.p.flavors.byName(r.flavor);
    const uuids = Array.from({ length: count }, () => randomUUID());
    const names = uuids.map((_, i) => (count > 1 ? `${r.name}-${i + 1}` : r.name));
    return { f, uuids, names };
  }

  /** run_instance cast to the scheduler, as Nova's API sent it. */
  private async send(r: Pick<BootRequest, 'name' | 'image'>, f: Flavor, uuids: string[]): Promise<void> {
    await this.p.scheduler.runInstance({
      request_spec: {
        // Nova's API: the first instance's properties stand for all of them.
        instance_properties: {
          uuid: uuids[0],
          hostname: r.name,
          display_name: r.name,
          memory_mb: f.memory_mb,
          vcpus: f.vcpus,
          root_gb: f.root_gb,
          image_ref: r.image.id,
        },
        instance_type: flavorView(f),
        image: r.image,
        instance_uuids: uuids,
        num_instances: uuids.length,
      },
      filter_properties: {},
    });
  }

  /**
   * Reads the instances' nodes (one query a round) until each reached `waitFor` or failed (the
   * scheduler or compute gave up on it), or time ran out. One failure does not stop the others
   * being followed: a batch of twenty with one bad node ends with nineteen built and the one
   * named (BootFailed, every failure in its message, and any instance still short of `waitFor`).
   */
  private async follow(
    uuids: string[],
    labels: string[],
    r: BootRequest,
    failure: (i: number) => string | undefined,
  ): Promise<InstanceRow[]> {
    const want = BOOT_STATES.indexOf(r.waitFor);
    const until = this.p.clock.now() + r.timeoutS * 1000;
    const last = uuids.map(() => '');
    const done: (InstanceRow | undefined)[] = uuids.map(() => undefined);
    const failed: (string | undefined)[] = uuids.map(() => undefined);
    const behind = () => uuids.map((_, i) => i).filter((i) => !done[i] && failed[i] === undefined);
    const notThere = (is: number[]) =>
      is.map((i) => `${labels[i]}: not ${r.waitFor} after ${r.timeoutS} s (now ${last[i] || 'unscheduled'})`);
    for (;;) {
      for (const i of behind()) {
        failed[i] = failure(i);
        if (failed[i] !== undefined) this.p.progress(`${labels[i]}: failed: ${failed[i]}`);
      }
      const timedOut = this.p.clock.now() > until;
      if (!behind().length || timedOut) {
        const failures = uuids.map((_, i) => i).filter((i) => failed[i] !== undefined);
        if (failures.length) {
          const what = failures.map((i) => `${labels[i]}: ${failed[i]}`).concat(timedOut ? notThere(behind()) : []);
          const of = uuids.length > 1 ? `${failures.length} of ${uuids.length} failed: ` : '';
          throw new BootFailed(`${of}${what.join('; ')}`);
        }
        if (!behind().length) return done as InstanceRow[];
        throw new BootTimedOut(notThere(behind()).join('; '));
      }
      const rows =
        uuids.length === 1 ? await this.p.nodes.instances({ instanceUuid: uuids[0] }) : await this.p.nodes.instances();
      for (const i of behind()) {
        const row = rows.find((x) => x.instance_uuid === uuids[i]);
        const state = row?.task_state ?? '';
        if (row && state !== last[i]) {
          this.p.progress(`${labels[i]}: node ${row.node_uuid} on ${row.service_host}: ${state}`);
          last[i] = state;
        }
        if (row && BOOT_STATES.indexOf(state as BootState) >= want) done[i] = row;
      }
      if (behind().length) await this.p.clock.sleep(250);
    }
  }
}
