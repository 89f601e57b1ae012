import { validateDto } from '@bm/core';
import type { RpcClient } from '@bm/messaging';
import { PowerCallArgs, PowerClient, SetBootDeviceArgs } from './power';

describe('the power surface: the caller says how long it waits', () => {
  it('PowerClient sends its timeout with every call that changes a node (not with a state read)', async () => {
    const sent: [string, Record<string, unknown>, { timeout?: number }][] = [];
    const rpc = {
      call: async (_t: unknown, method: string, args: Record<string, unknown>, o: { timeout?: number }) => {
        sent.push([method, args, o]);
        return {};
      },
    } as unknown as RpcClient;
    const c = new PowerClient(rpc, 'cn1', 60);
    await c.powerOn(3);
    await c.powerOff(3);
    await c.reboot(3);
    await c.setBootDevice(3, 'pxe', { persistent: true });
    await c.getPowerState(3);
    expect(sent.map(([m, a, o]) => [m, a, o.timeout])).toEqual([
      ['power_on', { node: 3, timeout: 60 }, 60],
      ['power_off', { node: 3, timeout: 60 }, 60],
      ['reboot', { node: 3, timeout: 60 }, 60],
      ['set_boot_device', { node: 3, timeout: 60, device: 'pxe', persistent: true }, 60],
      ['get_power_state', { node: 3 }, 60],
    ]);
    sent.length = 0;
    await new PowerClient(rpc, 'cn1').powerOn(3); // no timeout of its own: none sent
    expect(sent[0][1]).toEqual({ node: 3 });
  });

  it('timeout: seconds a timer holds; older callers may leave it out', () => {
    expect(validateDto(PowerCallArgs, { node: 3, timeout: 60 }).ok).toBe(true);
    expect(validateDto(PowerCallArgs, { node: 3 }).ok).toBe(true);
    expect(validateDto(SetBootDeviceArgs, { node: 3, device: 'pxe', timeout: 0.5 }).ok).toBe(true);
    for (const timeout of [-1, 1e10, 'soon', Number.NaN])
      expect(validateDto(PowerCallArgs, { node: 3, timeout })).toMatchObject({
        ok: false,
        problems: [{ field: 'timeout' }],
      });
  });
});
