import { CommandRunner } from '@bm/exec';
import { SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import type { PowerDriver, PowerTarget } from './driver';
import { IpmitoolDriver } from './ipmitool.driver';
import { NativeIpmiDriver } from './native.driver';
import { PowerManager } from './power-manager';

// Both real drivers against a virtual BMC on loopback: the ipmitool driver runs the real
// ipmitool (Debian's), the native driver our own client.
describe.each([
  ['ipmitool', () => new IpmitoolDriver(new CommandRunner())],
  ['native', () => new NativeIpmiDriver({ deadlineMs: 3000 })],
])('%s driver', (_name, make: () => PowerDriver) => {
  let bmc: VirtualBmc;
  let machine: SimulatedMachine;
  let driver: PowerDriver;
  let target: PowerTarget;

  beforeAll(async () => {
    machine = new SimulatedMachine();
    bmc = new VirtualBmc({ port: 0, users: { admin: 'Pw-with spaces & $', nopw: '' }, machine });
    await bmc.start();
    driver = make();
    target = {
      id: 1,
      uuid: 'u1',
      pm_address: `127.0.0.1:${bmc.port}`,
      pm_user: 'admin',
      pm_password: 'Pw-with spaces & $',
    };
  });
  afterAll(async () => {
    await driver.close();
    await bmc.stop();
  });

  it('reads and changes the power state and the boot device', async () => {
    expect(await driver.getPowerState(target)).toBe('off');
    const pm = new PowerManager(driver, { retries: 3, pollIntervalMs: 50 });
    expect(await pm.powerOn(target)).toBe('on');
    expect(machine.isPoweredOn()).toBe(true);
    await driver.setBootDevice(target, 'pxe', { persistent: true, efi: false });
    expect(machine.getBootFlags()).toMatchObject({ device: 'pxe', persistent: true, valid: true });
    expect(await pm.reboot(target)).toBe('on');
    expect(await pm.powerOff(target)).toBe('off');
  });

  it('a user with an empty password', async () => {
    // The ipmitool driver used to put a NUL in IPMI_PASSWORD: spawn throws a TypeError for it.
    expect(await driver.getPowerState({ ...target, pm_user: 'nopw', pm_password: '' }, 3000)).toMatch(/^(on|off)$/);
    await expect(driver.getPowerState({ ...target, pm_user: 'nopw', pm_password: 'x' }, 3000)).rejects.toThrow();
  });

  it('a wrong password fails', async () => {
    await expect(driver.getPowerState({ ...target, pm_password: 'wrong' }, 3000)).rejects.toThrow();
  });
});
