import { type Clock, systemClock } from '@bm/core';
import type { BootFlags, PowerAction } from './commands';

/** What a virtual BMC controls: a node simulated in memory (SimulatedMachine) or a QEMU VM (QemuMachine). */
export interface BmcMachine {
  isPoweredOn(): boolean | Promise<boolean>;
  power(action: PowerAction): void | Promise<void>;
  getBootFlags(): BootFlags | Promise<BootFlags>;
  setBootFlags(flags: BootFlags): void | Promise<void>;
}

export interface MachineEvent {
  /** When, in ms since the epoch (the machine's clock). */
  at: number;
  op: 'power' | 'boot';
  action?: PowerAction;
  before?: 'on' | 'off';
  after?: 'on' | 'off';
  boot?: BootFlags;
}

/**
 * A node that only exists in memory: power and boot flags change at once, every change is
 * recorded (tests and the lab's node timeline read `events`).
 */
export class SimulatedMachine implements BmcMachine {
  readonly events: MachineEvent[] = [];
  private bootFlags: BootFlags = { device: 'none', persistent: false, efi: false, valid: false };
  private on: boolean;
  private readonly clock: Clock;

  /** `clock` stamps the events (default: the system clock). */
  constructor(initial: { powerOn?: boolean; clock?: Clock } = {}) {
    this.on = initial.powerOn ?? false;
    this.clock = initial.clock ?? systemClock;
  }

  isPoweredOn(): boolean {
    return this.on;
  }

  power(action: PowerAction): void {
    const before = this.on;
    // cycle/reset leave the machine on (a reset of a machine that is off does nothing).
    this.on = action === 'on' || ((action === 'cycle' || action === 'reset') && (before || action === 'cycle'));
    if (action === 'off' || action === 'soft') this.on = false;
    this.events.push({
      at: this.clock.now(),
      op: 'power',
      action,
      before: before ? 'on' : 'off',
      after: this.on ? 'on' : 'off',
    });
  }

  getBootFlags(): BootFlags {
    return { ...this.bootFlags };
  }

  setBootFlags(flags: BootFlags): void {
    this.bootFlags = { ...flags };
    this.events.push({ at: this.clock.now(), op: 'boot', boot: { ...flags } });
  }
}
