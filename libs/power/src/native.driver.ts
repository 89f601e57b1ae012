import { InvalidParameterValue, parseBmcAddress } from '@bm/domain';
import {
  type BmcCredentials,
  type BootDevice,
  type BootFlags,
  IpmiClient,
  type IpmiClientOptions,
  type PowerAction,
} from '@bm/ipmi';
import type { PowerDriver, PowerState, PowerTarget } from './driver';

/** Our own IPMI 2.0 client: sessions held per BMC, one socket for all. */
export class NativeIpmiDriver implements PowerDriver {
  readonly name = 'native';
  readonly client: IpmiClient;

  constructor(options: IpmiClientOptions = {}) {
    this.client = new IpmiClient(options);
  }

  async getPowerState(t: PowerTarget, deadlineMs?: number): Promise<PowerState> {
    return (await this.client.powerStatus(creds(t), deadlineMs)).powerOn ? 'on' : 'off';
  }

  setPower(t: PowerTarget, action: PowerAction, deadlineMs?: number): Promise<void> {
    return this.client.power(creds(t), action, deadlineMs);
  }

  setBootDevice(
    t: PowerTarget,
    device: BootDevice,
    o: { persistent: boolean; efi: boolean },
    deadlineMs?: number,
  ): Promise<void> {
    return this.client.setBootDevice(creds(t), device, o, deadlineMs);
  }

  getBootDevice(t: PowerTarget, deadlineMs?: number): Promise<BootFlags> {
    return this.client.getBootDevice(creds(t), deadlineMs);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export function creds(t: PowerTarget): BmcCredentials {
  const a = parseBmcAddress(t.pm_address);
  if (typeof a === 'string') throw new InvalidParameterValue([{ field: 'pm_address', message: a }]);
  return { host: a.host, port: a.port, user: t.pm_user, password: t.pm_password };
}
