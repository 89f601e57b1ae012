import { CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { FakePowerDriver } from './fake.driver';
import { IpmitoolDriver } from './ipmitool.driver';
import type { PowerTarget } from './driver';

const node: PowerTarget = {
  id: 1,
  uuid: 'uuid-1',
  pm_address: '127.0.0.1:6231',
  pm_user: 'admin',
  pm_password: 'pa$$word',
};

/** ipmitool's answer to `chassis bootparam get 5` (ipmi_chassis.c), with the data bytes given. */
const bootparam = (data: string) =>
  `Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\nBoot parameter data: ${data}\n Boot Flags :\n`;

class RecordingRunner extends CommandRunner {
  readonly runs: { args: readonly string[]; env?: Record<string, string> }[] = [];
  constructor(private readonly reply: string) {
    super();
  }
  override async run(_program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    this.runs.push({ args, env: o.env });
    return { code: 0, signal: null, stdout: this.reply, stderr: '', durationMs: 1 };
  }
}

describe('getBootDevice', () => {
  it.each([
    ['8004000000', { device: 'pxe', persistent: false, efi: false, valid: true }],
    ['e008000000', { device: 'disk', persistent: true, efi: true, valid: true }],
    ['0014000000', { device: 'cdrom', persistent: false, efi: false, valid: false }],
    ['C03C000000', { device: 'floppy', persistent: true, efi: false, valid: true }],
  ])('ipmitool: parameter data %s is read by our codec', async (data, flags) => {
    const r = new RecordingRunner(bootparam(data));
    expect(await new IpmitoolDriver(r).getBootDevice(node)).toEqual(flags);
    expect(r.runs[0].args.join(' ')).toBe('-I lanplus -C 3 -H 127.0.0.1 -p 6231 -U admin -E chassis bootparam get 5');
    expect(r.runs[0].args.join(' ')).not.toContain('pa$$word');
  });

  it('ipmitool: an answer without the data is an error, not a guess', async () => {
    const d = new IpmitoolDriver(new RecordingRunner('Error: Unable to get boot parameter 5\n'), { attempts: 1 });
    await expect(d.getBootDevice(node)).rejects.toThrow(/no boot parameter data/);
  });

  it('fake: what was set last; nothing set is no valid flags', async () => {
    const d = new FakePowerDriver();
    expect(await d.getBootDevice(node)).toEqual({ device: 'none', persistent: false, efi: false, valid: false });
    await d.setBootDevice(node, 'disk', { persistent: true, efi: false });
    expect(await d.getBootDevice(node)).toEqual({ device: 'disk', persistent: true, efi: false, valid: true });
    d.failWith = new Error('BMC away');
    await expect(d.getBootDevice(node)).rejects.toThrow('BMC away');
  });
});
