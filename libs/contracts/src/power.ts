import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { NodeArgs } from '@bm/domain';
import { BOOT_DEVICES, type BootDevice } from '@bm/ipmi';
import type { RpcClient } from '@bm/messaging';
import { type HostClient, type RpcServerSpec, type RpcSurface, SurfaceClient } from './surface';

/** The power service (apps/power): IPMI power and boot device of the nodes, by node id or UUID. */
export const POWER = {
  topic: 'baremetal-power',
  version: '1.0',
  methods: {
    getPowerState: 'get_power_state',
    powerOn: 'power_on',
    powerOff: 'power_off',
    /** Nova's reboot_node: off, boot device PXE (persistent), on. */
    reboot: 'reboot',
    setBootDevice: 'set_boot_device',
  },
} as const satisfies RpcSurface;

export const POWER_SERVER: RpcServerSpec = { topic: POWER.topic, endpoints: [{ version: POWER.version }] };

export type PowerStateName = 'on' | 'off' | 'error';

export { NodeArgs };

export class SetBootDeviceArgs extends NodeArgs {
  @IsIn(Object.keys(BOOT_DEVICES), { message: `device must be one of ${Object.keys(BOOT_DEVICES).join(', ')}` })
  device: BootDevice;

  @IsOptional()
  @IsBoolean()
  persistent?: boolean;

  @IsOptional()
  @IsBoolean()
  efi?: boolean;
}

export interface PowerStateResult {
  node: string;
  power_state: string;
}

export interface BootDeviceResult {
  node: string;
  boot_device: BootDevice;
  persistent: boolean;
  efi: boolean;
}

/** The power service of one host, over the bus. */
export class PowerClient {
  private readonly c: HostClient<typeof POWER.methods>;

  /** The service of `host`; calls wait `timeoutS` (default: the RpcClient's). */
  constructor(rpc: RpcClient, host: string, timeoutS?: number) {
    this.c = new SurfaceClient(rpc, POWER, timeoutS).on(host);
  }

  getPowerState(node: number | string): Promise<PowerStateResult> {
    return this.c.call('getPowerState', { node });
  }

  powerOn(node: number | string): Promise<PowerStateResult> {
    return this.c.call('powerOn', { node });
  }

  powerOff(node: number | string): Promise<PowerStateResult> {
    return this.c.call('powerOff', { node });
  }

  reboot(node: number | string): Promise<PowerStateResult> {
    return this.c.call('reboot', { node });
  }

  setBootDevice(
    node: number | string,
    device: BootDevice,
    o: { persistent?: boolean; efi?: boolean } = {},
  ): Promise<BootDeviceResult> {
    return this.c.call('setBootDevice', { node, device, ...o });
  }
}
