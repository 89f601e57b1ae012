import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConductorClient, type InstanceStateChange, NovaInstances, type NovaObjectPrimitive } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { type Clock, dateOf } from '@bm/core';
import { RpcClient } from '@bm/messaging';
import { BM_CONFIG, CLOCK } from '@bm/service';
import type { InstanceRef } from './instance-args';
import type { InstanceStep } from './use-cases/instance-notifications';

/** nova.compute.power_state */
const RUNNING = 1;
const SHUTDOWN = 4;
const NOSTATE = 0;

/**
 * With `[baremetal] nova_conductor`, an instance Nova sent (an `Instance` object) has its state
 * written to Nova's database through the conductor as nova-compute writes it
 * (nova/compute/manager.py), around each step compute runs:
 *
 *   create   before: host, node, vm_state building, task_state None (expected: scheduling or None),
 *                    then task_state spawning (expected None);
 *            after:  vm_state active, task_state None, power_state RUNNING, launched_at (expected spawning);
 *   rebuild  before: task_state rebuild_spawning (expected rebuilding);
 *            after:  as create's (expected rebuild_spawning);
 *   reboot   after:  vm_state active, task_state None, power_state RUNNING;
 *   power_off after: vm_state stopped, task_state None, power_state SHUTDOWN (expected powering-off);
 *   power_on after:  vm_state active, task_state None, power_state RUNNING (expected powering-on);
 *   delete   after:  vm_state deleted, task_state None, power_state NOSTATE, terminated_at; destroy;
 *   failure: an instance fault (InstanceFault.create) and vm_state error, task_state None (a
 *            failed build also without host and node).
 *
 * A refused write before the work (Nova's compare-and-swap: UnexpectedTaskStateError, say the
 * instance is being deleted) stops the step, as it stops nova-compute's; one after it is logged:
 * the node's work is done and nova_bm says so whatever Nova's row says. Instances from our own
 * callers (plain dicts) and a compute without a conductor are left alone.
 */
@Injectable()
export class NovaInstanceState {
  private readonly log = new Logger('nova-instance');
  private readonly instances?: NovaInstances;
  /** The primitive as last saved, per instance, while a step runs (each save builds on the last). */
  private readonly current = new Map<string, NovaObjectPrimitive>();
  private readonly rescheduled = new Map<string, NovaObjectPrimitive>();

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    rpc: RpcClient,
  ) {
    if (config.baremetal.nova_conductor)
      this.instances = new NovaInstances(new ConductorClient(rpc, config.default.rpc_response_timeout));
  }

  /** The instance as saved for its reschedule (failed with `rescheduling`), else as Nova sent it: what goes back to the conductor. */
  takeRescheduled(instance: InstanceRef): NovaObjectPrimitive | undefined {
    const saved = this.rescheduled.get(instance.uuid);
    this.rescheduled.delete(instance.uuid);
    return saved ?? instance.primitive;
  }

  /** Whether Nova's database is ours to update for this instance (a Nova object, a conductor). */
  applies(instance: InstanceRef): instance is InstanceRef & { primitive: NovaObjectPrimitive } {
    return this.instances !== undefined && instance.primitive !== undefined;
  }

  private async save(
    instance: InstanceRef & { primitive: NovaObjectPrimitive },
    change: InstanceStateChange,
    expected?: (string | null)[] | string | null,
  ) {
    const saved = await this.instances!.save(this.current.get(instance.uuid) ?? instance.primitive, change, expected);
    this.current.set(instance.uuid, saved);
  }

  /** Before the step's work; throws when Nova refuses (the step does not run). */
  async before(step: InstanceStep, instance: InstanceRef, node?: string): Promise<void> {
    if (!this.applies(instance)) return;
    this.current.delete(instance.uuid);
    if (step === 'create') {
      const host = this.config.default.host;
      await this.save(instance, { host, node: node ?? null, vm_state: 'building', task_state: null }, [
        'scheduling',
        null,
      ]);
      await this.save(instance, { task_state: 'spawning' }, [null]);
    } else if (step === 'rebuild') {
      await this.save(instance, { task_state: 'rebuild_spawning' }, ['rebuilding']);
    }
  }

  /** After the step's work succeeded; a refusal is logged. */
  async after(step: InstanceStep, instance: InstanceRef): Promise<void> {
    if (!this.applies(instance)) return;
    const now = dateOf(this.clock);
    const running = { vm_state: 'active', task_state: null, power_state: RUNNING };
    try {
      if (step === 'create') await this.save(instance, { ...running, launched_at: now }, 'spawning');
      else if (step === 'rebuild') await this.save(instance, { ...running, launched_at: now }, 'rebuild_spawning');
      else if (step === 'reboot') await this.save(instance, running);
      else if (step === 'power_on') await this.save(instance, running, 'powering-on');
      else if (step === 'power_off')
        await this.save(instance, { vm_state: 'stopped', task_state: null, power_state: SHUTDOWN }, 'powering-off');
      else if (step === 'delete') {
        await this.save(instance, { vm_state: 'deleted', task_state: null, power_state: NOSTATE, terminated_at: now });
        await this.instances!.destroy(this.current.get(instance.uuid)!);
      }
    } catch (e) {
      this.log.warn(
        `${step} of ${instance.uuid}: Nova's instance not updated: ${(e as Error).name}: ${(e as Error).message}`,
      );
    } finally {
      this.current.delete(instance.uuid);
    }
  }

  /**
   * The step failed: a fault and vm_state error in Nova's row; a refusal is logged. A build that
   * goes back to Nova's conductor (`rescheduling`) is, as nova-compute leaves it, back in
   * task_state scheduling with no host and node, still building, and no fault (the conductor
   * records one if no host is left).
   */
  async failed(step: InstanceStep, instance: InstanceRef, error: Error, rescheduling = false): Promise<void> {
    if (!this.applies(instance)) return;
    try {
      if (rescheduling) {
        await this.save(instance, { host: null, node: null, task_state: 'scheduling' });
        this.rescheduled.set(instance.uuid, this.current.get(instance.uuid)!);
        return;
      }
      await this.instances!.fault(instance.uuid, this.config.default.host, error);
      // A build that failed leaves the host and node, as nova-compute's _nil_out_instance_obj_host_and_node.
      const released = step === 'create' ? { host: null, node: null } : {};
      await this.save(instance, { vm_state: 'error', task_state: null, ...released });
    } catch (e) {
      this.log.warn(
        `${step} of ${instance.uuid} failed, and Nova's instance could not say so: ${(e as Error).name}: ${(e as Error).message}`,
      );
    } finally {
      this.current.delete(instance.uuid);
    }
  }
}
