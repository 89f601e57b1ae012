import type { BootDevice, BootFlags, PowerAction } from '@bm/ipmi';
import { type Clock, NovaBmError, systemClock } from '@bm/core';
import type { PowerDriver, PowerState, PowerTarget } from './driver';
import { NodeLanes, PowerDeadlinePassed } from './node-lanes';

/** The node did not reach the power state asked for (Nova's two classes below). */
export abstract class PowerActionFailed extends NovaBmError {
  readonly kind = 'failed';
  constructor(
    readonly node: number,
    readonly wanted: PowerState,
    readonly tries: number,
    reason?: string,
  ) {
    super(`node ${node} is not powered ${wanted} after ${tries} checks${reason ? `: ${reason}` : ''}`);
  }
}

export class InstancePowerOnFailure extends PowerActionFailed {
  readonly name = 'InstancePowerOnFailure';
}

export class InstancePowerOffFailure extends PowerActionFailed {
  readonly name = 'InstancePowerOffFailure';
}

/** What the caller of one power operation says about it. */
export interface PowerCallOptions {
  /**
   * Milliseconds the caller waits for the answer (its RPC timeout): once they are up, what is
   * left of the operation is abandoned (PowerDeadlinePassed), not run after the caller gave up.
   */
  timeoutMs?: number;
}

export interface PowerManagerOptions {
  /** `[baremetal] ipmi_power_retry`: checks after the command before giving up (Nova: 10). */
  retries: number;
  /** Between two checks (Nova: 1 s). */
  pollIntervalMs?: number;
  /** Deadline of each BMC call. */
  callDeadlineMs?: number;
  /** Times the waits between checks (default: the system clock). */
  clock?: Clock;
}

/**
 * Nova's IPMI power semantics (ipmi.py `_power_on`/`_power_off`/`reboot_node`) over any driver:
 * the command is sent once, then the state is checked until it is reached or `retries` checks
 * have failed. A node already in the state gets no command at all.
 *
 * The operations that change a node (on, off, reboot, boot device) run one at a time per node
 * (NodeLanes): a cleanup's power-off waits for the power-on before it instead of racing it. Each
 * stops at its caller's deadline: not started once it has passed, no BMC call or check past it.
 * State reads are not queued: they change nothing and must answer while a long operation runs.
 */
export class PowerManager {
  private readonly clock: Clock;
  private readonly lanes: NodeLanes;

  constructor(
    readonly driver: PowerDriver,
    private readonly o: PowerManagerOptions,
  ) {
    this.clock = o.clock ?? systemClock;
    this.lanes = new NodeLanes(this.clock);
  }

  getPowerState(t: PowerTarget): Promise<PowerState> {
    return this.driver.getPowerState(t, this.o.callDeadlineMs);
  }

  /** The boot device the BMC holds: a read, not queued behind the node's operations. */
  getBootDevice(t: PowerTarget): Promise<BootFlags> {
    return this.driver.getBootDevice(t, this.o.callDeadlineMs);
  }

  powerOn(t: PowerTarget, call: PowerCallOptions = {}): Promise<PowerState> {
    return this.queued(t, 'power on', call, (d) => this.reach(t, 'on', 'on', d));
  }

  powerOff(t: PowerTarget, call: PowerCallOptions = {}): Promise<PowerState> {
    return this.queued(t, 'power off', call, (d) => this.reach(t, 'off', 'off', d));
  }

  setBootDevice(
    t: PowerTarget,
    device: BootDevice,
    o: { persistent: boolean; efi: boolean },
    call: PowerCallOptions = {},
  ): Promise<void> {
    return this.queued(t, 'boot device', call, (d) => this.driver.setBootDevice(t, device, o, this.callDeadline(t, d)));
  }

  /** Nova's reboot_node: off, boot device PXE (persistent, as Havana+), on; one operation in the node's lane. */
  reboot(t: PowerTarget, call: PowerCallOptions = {}): Promise<PowerState> {
    return this.queued(t, 'reboot', call, async (d) => {
      await this.reach(t, 'off', 'off', d);
      await this.driver.setBootDevice(t, 'pxe', { persistent: true, efi: false }, this.callDeadline(t, d));
      return this.reach(t, 'on', 'on', d);
    });
  }

  /** Nodes with an operation running or waiting (for tests and diagnostics). */
  get busyNodes(): number {
    return this.lanes.busy;
  }

  private queued<T>(
    t: PowerTarget,
    what: string,
    call: PowerCallOptions,
    fn: (deadlineAt: number | undefined) => Promise<T>,
  ): Promise<T> {
    const deadlineAt = call.timeoutMs !== undefined ? this.clock.now() + call.timeoutMs : undefined;
    return this.lanes.run(t.id, what, deadlineAt, () => fn(deadlineAt));
  }

  /** One BMC call's deadline: its own, cut to what is left of the caller's; none left: abandoned. */
  private callDeadline(t: PowerTarget, deadlineAt: number | undefined): number | undefined {
    if (deadlineAt === undefined) return this.o.callDeadlineMs;
    const left = deadlineAt - this.clock.now();
    if (left <= 0) throw new PowerDeadlinePassed(`node ${t.id}: abandoned: its caller's deadline passed`);
    return Math.min(this.o.callDeadlineMs ?? left, left);
  }

  private async reach(
    t: PowerTarget,
    want: PowerState,
    action: PowerAction,
    deadlineAt: number | undefined,
  ): Promise<PowerState> {
    const poll = this.o.pollIntervalMs ?? 1000;
    let lastError: string | undefined;
    let sent = false;
    for (let check = 0; check <= this.o.retries; check++) {
      const deadlineMs = this.callDeadline(t, deadlineAt); // throws once the caller's deadline is past
      try {
        if ((await this.driver.getPowerState(t, deadlineMs)) === want) return want;
        if (!sent) {
          await this.driver.setPower(t, action, this.callDeadline(t, deadlineAt));
          sent = true;
          continue; // check again at once: most BMCs switch in well under a second
        }
      } catch (e) {
        if (e instanceof PowerDeadlinePassed) throw e;
        lastError = (e as Error).message;
      }
      await this.clock.sleep(poll);
    }
    const Failure = want === 'on' ? InstancePowerOnFailure : InstancePowerOffFailure;
    throw new Failure(t.id, want, this.o.retries + 1, lastError);
  }
}
