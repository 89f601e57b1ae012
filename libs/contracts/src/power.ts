import { IsBoolean, IsIn, IsNumber, IsOptional, Max, Min } from 'class-validator';
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
    /** What the BMC holds (IPMI boot option parameter 5): a read, as get_power_state. */
    getBootDevice: 'get_boot_device',
  },
} as const satisfies RpcSurface;

export const POWER_SERVER: RpcServerSpec = { topic: POWER.topic, endpoints: [{ version: POWER.version }] };

export type PowerStateName = 'on' | 'off' | 'error';

export { NodeArgs };

/** The longest wait a timer holds, in seconds (2^31 - 1 ms). */
const MAX_TIMEOUT_S = 2_147_483;

/** A power call's arguments: the node, and how long its caller waits for the answer. */
export class PowerCallArgs extends NodeArgs {
  /**
   * Seconds the caller waits for the reply (its RPC timeout): the power service abandons what is
   * left of the operation after that, instead of running it after the caller gave up.
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_TIMEOUT_S)
  timeout?: number;
}

export class SetBootDeviceArgs extends PowerCallArgs {
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

/** get_boot_device: the flags the BMC holds; `valid` false = none set, the BMC's own boot order applies. */
export interface BootDeviceState extends BootDeviceResult {
  valid: boolean;
}

/** The power service of one host, over the bus. */
export class PowerClient {
  private readonly c: HostClient<typeof POWER.methods>;

  /**
   * The service of `host`; calls wait `timeoutS` (default: the RpcClient's). When given, it is
   * sent along (`timeout`) so that the service abandons work this client no longer waits for.
   */
  constructor(
    rpc: RpcClient,
    host: string,
    private readonly timeoutS?: number,
  ) {
    this.c = new SurfaceClient(rpc, POWER, timeoutS).on(host);
  }

  private args(node: number | string): PowerCallArgs {
    return { node, ...(this.timeoutS !== undefined ? { timeout: this.timeoutS } : {}) };
  }

  getPowerState(node: number | string): Promise<PowerStateResult> {
    return this.c.call('getPowerState', { node });
  }

  getBootDevice(node: number | string): Promise<BootDeviceState> {
    return this.c.call('getBootDevice', { node });
  }

  powerOn(node: number | string): Promise<PowerStateResult> {
    return this.c.call('powerOn', this.args(node));
  }

  powerOff(node: number | string): Promise<PowerStateResult> {
    return this.c.call('powerOff', this.args(node));
  }

  reboot(node: number | string): Promise<PowerStateResult> {
    return this.c.call('reboot', this.args(node));
  }

  setBootDevice(
    node: number | string,
    device: BootDevice,
    o: { persistent?: boolean; efi?: boolean } = {},
  ): Promise<BootDeviceResult> {
    return this.c.call('setBootDevice', { ...this.args(node), device, ...o });
  }
}
