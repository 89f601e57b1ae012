import { CommandRunner } from '@bm/exec';
import { SimulatedMachine, VirtualBmc } from '@bm/ipmi';
import type { PowerDriver, PowerTarget } from './driver';
import { IpmitoolDriver } from './ipmitool.driver';
import { NativeIpmiDriver } from './native.driver';
import { PowerManager } from './power-manager';

// Reading the boot device back (`bmctl node boot-device show`): both real drivers against a
// virtual BMC on loopback, the ipmitool driver through Debian's ipmitool.
describe.each([
  ['ipmitool', () => new IpmitoolDriver(new CommandRunner())],
  ['native', () => new NativeIpmiDriver({ deadlineMs: 3000 })],
])('%s driver: getBootDevice', (_name, make: () => PowerDriver) => {
  let bmc: VirtualBmc;
  let machine: SimulatedMachine;
  let driver: PowerDriver;
  let target: PowerTarget;

  beforeAll(async () => {
    machine = new SimulatedMachine();
    bmc = new VirtualBmc({ port: 0, users: { admin: 'boot-Dev-1' }, machine });
    await bmc.start();
    driver = make();
    target = { id: 1, uuid: 'u1', pm_address: `127.0.0.1:${bmc.port}`, pm_user: 'admin', pm_password: 'boot-Dev-1' };
  });
  afterAll(async () => {
    await driver.close();
    await bmc.stop();
  });

  it('reads back what was set: device, persistence, EFI, valid', async () => {
    const pm = new PowerManager(driver, { retries: 1, callDeadlineMs: 3000 });
    await pm.setBootDevice(target, 'disk', { persistent: true, efi: false });
    expect(await pm.getBootDevice(target)).toEqual({ device: 'disk', persistent: true, efi: false, valid: true });
    await pm.setBootDevice(target, 'pxe', { persistent: false, efi: true });
    expect(await pm.getBootDevice(target)).toEqual({ device: 'pxe', persistent: false, efi: true, valid: true });
    expect(machine.getBootFlags()).toMatchObject({ device: 'pxe', persistent: false, efi: true });
  });

  it('a wrong password fails', async () => {
    await expect(driver.getBootDevice({ ...target, pm_password: 'wrong' }, 3000)).rejects.toThrow();
  });
});
