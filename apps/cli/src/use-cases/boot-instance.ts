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

  async run(r: BootRequest): Promise<InstanceRow> {
    const f = await this.p.flavors.byName(r.flavor);
    const uuid = randomUUID();
    const label = `instance ${uuid} (${r.name})`;
    const failures = new BuildFailures(this.p.clock);
    const listener = await this.p.listen(`bmctl-boot-${uuid}`, (n) => failures.seen(uuid, n));
    try {
      await this.p.scheduler.runInstance({
        request_spec: {
          instance_properties: {
            uuid,
            hostname: r.name,
            display_name: r.name,
            memory_mb: f.memory_mb,
            vcpus: f.vcpus,
            root_gb: f.root_gb,
            image_ref: r.image.id,
          },
          instance_type: flavorView(f),
          image: r.image,
          instance_uuids: [uuid],
          num_instances: 1,
        },
        filter_properties: {},
      });
      this.p.progress(`${label}: requested`);
      return await this.follow(uuid, label, r, () => failures.failure());
    } finally {
      await listener.stop();
    }
  }

  /** Reads the instance's node until it reaches `waitFor`, the scheduler fails it, or time runs out. */
  private async follow(uuid: string, label: string, r: BootRequest, failure: () => string | undefined) {
    const want = BOOT_STATES.indexOf(r.waitFor);
    const until = this.p.clock.now() + r.timeoutS * 1000;
    let last = '';
    for (;;) {
      const failed = failure();
      if (failed) throw new BootFailed(`${label}: ${failed}`);
      const [row] = await this.p.nodes.instances({ instanceUuid: uuid });
      const state = row?.task_state ?? '';
      if (row && state !== last) {
        this.p.progress(`${label}: node ${row.node_uuid} on ${row.service_host}: ${state}`);
        last = state;
      }
      if (row && BOOT_STATES.indexOf(state as BootState) >= want) return row;
      if (this.p.clock.now() > until)
        throw new BootTimedOut(`${label}: not ${r.waitFor} after ${r.timeoutS} s (now ${last || 'unscheduled'})`);
      await this.p.clock.sleep(250);
    }
  }
}
