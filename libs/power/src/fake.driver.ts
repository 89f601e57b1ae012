import type { BootDevice, BootFlags, PowerAction } from '@bm/ipmi';
import type { PowerDriver, PowerState, PowerTarget } from './driver';

/**
 * Power in memory, every call recorded: the unit tests' driver, and the one `[baremetal]
 * power_manager = fake` (Nova's FakePowerManager) selects, with which no BMC is ever called.
 */
export class FakePowerDriver implements PowerDriver {
  readonly name = 'fake';
  readonly state = new Map<number, PowerState>();
  readonly boot = new Map<number, { device: BootDevice; persistent: boolean; efi: boolean }>();
  readonly calls: string[] = [];
  /** While set, every call fails with this error. */
  failWith?: Error;
  /** Set to make power actions not take effect (a node stuck in its state). */
  stuck = false;

  async getPowerState(t: PowerTarget): Promise<PowerState> {
    this.calls.push(`status ${t.id}`);
    if (this.failWith) throw this.failWith;
    return this.state.get(t.id) ?? 'off';
  }

  async setPower(t: PowerTarget, action: PowerAction): Promise<void> {
    this.calls.push(`${action} ${t.id}`);
    if (this.failWith) throw this.failWith;
    if (this.stuck) return;
    this.state.set(t.id, action === 'off' || action === 'soft' ? 'off' : 'on');
  }

  async setBootDevice(t: PowerTarget, device: BootDevice, o: { persistent: boolean; efi: boolean }): Promise<void> {
    this.calls.push(`bootdev ${device}${o.persistent ? ' persistent' : ''} ${t.id}`);
    if (this.failWith) throw this.failWith;
    this.boot.set(t.id, { device, ...o });
  }

  /** What was set last; a node never set has no valid flags (the BMC's own boot order). */
  async getBootDevice(t: PowerTarget): Promise<BootFlags> {
    this.calls.push(`bootdev? ${t.id}`);
    if (this.failWith) throw this.failWith;
    const b = this.boot.get(t.id);
    return b ? { ...b, valid: true } : { device: 'none', persistent: false, efi: false, valid: false };
  }

  async close(): Promise<void> {}
}
