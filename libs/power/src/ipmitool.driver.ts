import { type BootDevice, type BootFlags, type PowerAction, decodeBootFlags } from '@bm/ipmi';
import { type Clock, systemClock } from '@bm/core';
import { CommandFailed, type CommandRunner } from '@bm/exec';
import type { PowerDriver, PowerState, PowerTarget } from './driver';
import { creds } from './native.driver';

export interface IpmitoolDriverOptions {
  /** The ipmitool binary (default `ipmitool` on the PATH). */
  program?: string;
  /** Runs of ipmitool per call, within its deadline (default 3). */
  attempts?: number;
  /** Times each call's deadline (default: the system clock). */
  clock?: Clock;
}

/**
 * Compatibility with the seed's `power_manager=nova.virt.baremetal.ipmi.IPMI` as Nova ran it:
 * `ipmitool -I lanplus` once per call. The password travels in the environment (`-E` reads
 * IPMI_PASSWORD), never on the command line. An empty password is an empty variable: `-E` takes
 * a set variable as it is, so ipmitool neither prompts for it (Nova bug 1237802, which Nova
 * avoided with a NUL in a password file) nor needs the NUL an environment cannot hold.
 */
export class IpmitoolDriver implements PowerDriver {
  readonly name = 'ipmitool';

  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: IpmitoolDriverOptions = {},
  ) {}

  async getPowerState(t: PowerTarget, deadlineMs?: number): Promise<PowerState> {
    const out = (await this.ipmitool(t, ['power', 'status'], deadlineMs)).trim();
    if (out === 'Chassis Power is on') return 'on';
    if (out === 'Chassis Power is off') return 'off';
    throw new CommandFailed('ipmitool', ['power', 'status'], undefined, `unexpected answer '${out.slice(0, 80)}'`);
  }

  async setPower(t: PowerTarget, action: PowerAction, deadlineMs?: number): Promise<void> {
    await this.ipmitool(t, ['power', action], deadlineMs);
  }

  async setBootDevice(
    t: PowerTarget,
    device: BootDevice,
    o: { persistent: boolean; efi: boolean },
    deadlineMs?: number,
  ): Promise<void> {
    const options = [o.persistent ? 'persistent' : '', o.efi ? 'efiboot' : ''].filter(Boolean);
    await this.ipmitool(
      t,
      ['chassis', 'bootdev', device, ...(options.length ? [`options=${options.join(',')}`] : [])],
      deadlineMs,
    );
  }

  /**
   * `chassis bootparam get 5`: ipmitool prints the parameter's bytes (`Boot parameter data:
   * 8004000000`); the first two are the flags and the device selector, read by our own codec.
   */
  async getBootDevice(t: PowerTarget, deadlineMs?: number): Promise<BootFlags> {
    const words = ['chassis', 'bootparam', 'get', '5'];
    const out = await this.ipmitool(t, words, deadlineMs);
    const data = /Boot parameter data:\s*([0-9a-fA-F]{4,})/.exec(out)?.[1];
    if (!data) throw new CommandFailed('ipmitool', words, undefined, `no boot parameter data in '${out.slice(0, 80)}'`);
    return decodeBootFlags(parseInt(data.slice(0, 2), 16), parseInt(data.slice(2, 4), 16));
  }

  async close(): Promise<void> {}

  /** The arguments for one call (exported for tests: no password in them). */
  argv(t: PowerTarget, words: string[]): string[] {
    const c = creds(t);
    return ['-I', 'lanplus', '-C', '3', '-H', c.host, '-p', String(c.port), '-U', c.user, '-E', ...words];
  }

  private async ipmitool(t: PowerTarget, words: string[], deadlineMs = 15_000): Promise<string> {
    const attempts = this.opts.attempts ?? 3;
    const clock = this.opts.clock ?? systemClock;
    const until = clock.now() + deadlineMs;
    let last: unknown;
    for (let i = 0; i < attempts && clock.now() < until; i++) {
      try {
        const r = await this.runner.check(this.opts.program ?? 'ipmitool', this.argv(t, words), {
          env: { IPMI_PASSWORD: t.pm_password },
          timeoutMs: Math.max(1, until - clock.now()),
        });
        return r.stdout;
      } catch (e) {
        last = e;
      }
    }
    throw last ?? new CommandFailed('ipmitool', words, undefined, 'deadline passed before the first attempt');
  }
}
