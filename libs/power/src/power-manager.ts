import type { BootDevice, PowerAction } from '@bm/ipmi';
import { type Clock, NovaBmError, systemClock } from '@bm/core';
import type { PowerDriver, PowerState, PowerTarget } from './driver';

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
 */
export class PowerManager {
  constructor(
    readonly driver: PowerDriver,
    private readonly o: PowerManagerOptions,
  ) {}

  getPowerState(t: PowerTarget): Promise<PowerState> {
    return this.driver.getPowerState(t, this.o.callDeadlineMs);
  }

  powerOn(t: PowerTarget): Promise<PowerState> {
    return this.reach(t, 'on', 'on');
  }

  powerOff(t: PowerTarget): Promise<PowerState> {
    return this.reach(t, 'off', 'off');
  }

  setBootDevice(t: PowerTarget, device: BootDevice, o: { persistent: boolean; efi: boolean }): Promise<void> {
    return this.driver.setBootDevice(t, device, o, this.o.callDeadlineMs);
  }

  /** Nova's reboot_node: off, boot device PXE (persistent, as Havana+), on. */
  async reboot(t: PowerTarget): Promise<PowerState> {
    await this.powerOff(t);
    await this.setBootDevice(t, 'pxe', { persistent: true, efi: false });
    return this.powerOn(t);
  }

  private async reach(t: PowerTarget, want: PowerState, action: PowerAction): Promise<PowerState> {
    const poll = this.o.pollIntervalMs ?? 1000;
    let lastError: string | undefined;
    let sent = false;
    for (let check = 0; check <= this.o.retries; check++) {
      try {
        if ((await this.driver.getPowerState(t, this.o.callDeadlineMs)) === want) return want;
        if (!sent) {
          await this.driver.setPower(t, action, this.o.callDeadlineMs);
          sent = true;
          continue; // check again at once: most BMCs switch in well under a second
        }
      } catch (e) {
        lastError = (e as Error).message;
      }
      await (this.o.clock ?? systemClock).sleep(poll);
    }
    const Failure = want === 'on' ? InstancePowerOnFailure : InstancePowerOffFailure;
    throw new Failure(t.id, want, this.o.retries + 1, lastError);
  }
}
