import type { BootFlags, PowerAction } from './commands';

/** What a virtual BMC controls: a simulated node now, a QEMU process later. */
export interface BmcMachine {
  isPoweredOn(): boolean | Promise<boolean>;
  power(action: PowerAction): void | Promise<void>;
  getBootFlags(): BootFlags | Promise<BootFlags>;
  setBootFlags(flags: BootFlags): void | Promise<void>;
}

export interface MachineEvent {
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

  constructor(initial: { powerOn?: boolean } = {}) {
    this.on = initial.powerOn ?? false;
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
      at: Date.now(),
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
    this.events.push({ at: Date.now(), op: 'boot', boot: { ...flags } });
  }
}
