import { Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { OsloController } from '@bm/messaging';
import { PowerManager, PowerTargets } from '@bm/power';
import { NodeArgs } from '@bm/domain';
import { SetBootDeviceArgs } from './power-rpc.dto';

/**
 * The power service's RPC API (topic `baremetal-power`, `baremetal-power.<host>`, version 1.0).
 * Credentials are read from nova_bm for each call.
 */
@OsloController()
export class PowerRpcController {
  constructor(
    @Inject(PowerManager) private readonly power: PowerManager,
    @Inject(PowerTargets) private readonly targets: PowerTargets,
  ) {}

  @MessagePattern('get_power_state')
  async getPowerState(@Payload() a: NodeArgs) {
    const t = await this.targets.get(a.node);
    return { node: t.uuid, power_state: await this.power.getPowerState(t) };
  }

  @MessagePattern('power_on')
  async powerOn(@Payload() a: NodeArgs) {
    const t = await this.targets.get(a.node);
    return { node: t.uuid, power_state: await this.power.powerOn(t) };
  }

  @MessagePattern('power_off')
  async powerOff(@Payload() a: NodeArgs) {
    const t = await this.targets.get(a.node);
    return { node: t.uuid, power_state: await this.power.powerOff(t) };
  }

  /** Nova's reboot_node: off, boot device PXE (persistent), on. */
  @MessagePattern('reboot')
  async reboot(@Payload() a: NodeArgs) {
    const t = await this.targets.get(a.node);
    return { node: t.uuid, power_state: await this.power.reboot(t) };
  }

  @MessagePattern('set_boot_device')
  async setBootDevice(@Payload() a: SetBootDeviceArgs) {
    const t = await this.targets.get(a.node);
    const o = { persistent: a.persistent ?? false, efi: a.efi ?? false };
    await this.power.setBootDevice(t, a.device, o);
    return { node: t.uuid, boot_device: a.device, ...o };
  }
}
