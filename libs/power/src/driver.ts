import type { BootDevice, BootFlags, PowerAction } from '@bm/ipmi';

export type PowerState = 'on' | 'off';

/** What a power driver needs of a node: its BMC and credentials, read from nova_bm per call. */
export interface PowerTarget {
  id: number;
  uuid: string;
  pm_address: string;
  pm_user: string;
  pm_password: string;
}

/**
 * One interface, three implementations (`native` IPMI 2.0, `ipmitool`, `fake`: in memory),
 * chosen by `[baremetal] power_manager`. Every call ends within its deadline.
 */
export interface PowerDriver {
  readonly name: string;
  getPowerState(t: PowerTarget, deadlineMs?: number): Promise<PowerState>;
  setPower(t: PowerTarget, action: PowerAction, deadlineMs?: number): Promise<void>;
  setBootDevice(
    t: PowerTarget,
    device: BootDevice,
    o: { persistent: boolean; efi: boolean },
    deadlineMs?: number,
  ): Promise<void>;
  /** The boot flags the BMC holds (IPMI boot option parameter 5): device, persistence, EFI, valid. */
  getBootDevice(t: PowerTarget, deadlineMs?: number): Promise<BootFlags>;
  close(): Promise<void>;
}
