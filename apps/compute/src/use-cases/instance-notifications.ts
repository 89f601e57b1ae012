import { Inject, Injectable } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { type Clock, dateOf } from '@bm/core';
import { legacyInstancePayload } from '@bm/domain';
import { Notifier } from '@bm/messaging';
import { BM_CONFIG, CLOCK } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { NovaInstanceState } from '../nova-instance-state';
import { ResourceReporter } from '../resource-reporter';

/**
 * Nova's vm_state and task_state while each announced step runs (start) and after it (end), as
 * the legacy compute.instance.* notifications carry them (payload `state`, `state_description`).
 */
const STEPS = {
  create: { start: ['building', 'spawning'], end: ['active', null] },
  delete: { start: ['active', 'deleting'], end: ['deleted', null] },
  reboot: { start: ['active', 'rebooting'], end: ['active', null] },
  power_off: { start: ['active', 'powering-off'], end: ['stopped', null] },
  power_on: { start: ['stopped', 'powering-on'], end: ['active', null] },
  rebuild: { start: ['active', 'rebuilding'], end: ['active', null] },
} as const satisfies Record<string, Record<'start' | 'end', readonly [string, string | null]>>;
export type InstanceStep = keyof typeof STEPS;

/** Steps that take or free a node: a resource report follows them, whatever their outcome. */
const CHANGES_NODES: readonly InstanceStep[] = ['create', 'delete', 'rebuild'];

export interface StepContext {
  /** The node's uuid, for the payload. */
  node?: string;
  /** The flavor sent beside the instance (request_spec.instance_type), for the payload. */
  flavor?: unknown;
  /** A step taken up after a restart announced its start before it. */
  resumed?: boolean;
  /** A failure the caller sends back to Nova's conductor for another host (a build with alternates). */
  reschedules?: (e: unknown) => boolean;
}

/**
 * The notification wrapper every instance use-case runs its work in: compute.instance.<step>.start
 * and .end (or .error, re-raising), each with Nova's legacy payload; and, for an instance Nova
 * sent, its state in Nova's database around the work (NovaInstanceState). `.end` of create says
 * `message: Success` and stamps launched_at (as rebuild does); delete stamps terminated_at and
 * deleted_at; `.error` adds the error's message and name (`exception`), with state `error`.
 */
@Injectable()
export class InstanceNotifications {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly notifier: Notifier,
    private readonly resources: ResourceReporter,
    private readonly nova: NovaInstanceState,
  ) {}

  async around<T>(step: InstanceStep, instance: InstanceRef, work: () => Promise<T>, on: StepContext = {}): Promise<T> {
    const payload = (vmState: string, taskState: string | null, extra: Record<string, unknown> = {}, times = {}) => ({
      ...legacyInstancePayload(instance.fields, {
        host: this.config.default.host,
        node: on.node,
        flavor: on.flavor,
        vm_state: vmState,
        task_state: taskState,
        ...times,
      }),
      ...extra,
    });
    const [startState, startTask] = STEPS[step].start;
    if (!on.resumed) await this.notifier.info(`compute.instance.${step}.start`, payload(startState, startTask));
    let r: T;
    try {
      // Nova's own database, through its conductor, when Nova sent the instance (nova-instance-state.ts).
      if (!on.resumed) await this.nova.before(step, instance, on.node);
      r = await work();
      await this.nova.after(step, instance);
    } catch (e) {
      await this.nova.failed(step, instance, e as Error, on.reschedules?.(e) ?? false);
      const error = { message: (e as Error).message, exception: (e as Error).name };
      await this.notifier.error(`compute.instance.${step}.error`, payload('error', null, error));
      throw e;
    } finally {
      if (CHANGES_NODES.includes(step)) void this.resources.report('instance changed');
    }
    const [endState, endTask] = STEPS[step].end;
    const now = dateOf(this.clock);
    const times =
      step === 'delete'
        ? { terminated_at: now, deleted_at: now }
        : step === 'create' || step === 'rebuild'
          ? { launched_at: now }
          : {};
    const extra = step === 'create' ? { message: 'Success' } : {};
    await this.notifier.info(`compute.instance.${step}.end`, payload(endState, endTask, extra, times));
    return r;
  }

  /** A build refused before it began (its arguments): .error, and the failure in Nova's database. */
  async refused(instance: InstanceRef, e: Error): Promise<void> {
    await this.nova.failed('create', instance, e);
    const payload = legacyInstancePayload(instance.fields, {
      host: this.config.default.host,
      vm_state: 'error',
      task_state: null,
    });
    await this.notifier.error('compute.instance.create.error', { ...payload, message: e.message, exception: e.name });
  }
}
