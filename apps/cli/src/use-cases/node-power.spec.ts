import { MessagingTimeout, RemoteError } from '@bm/messaging';
import { NodeNotFound } from '@bm/domain';
import { NodePower, type NodePowerPorts, type PowerPort, setBootDevice, showBootDevice } from './node-power';

const UUID = (id: number) => `00000000-0000-4000-8000-00000000000${id}`;

/** Nodes 1–3 on two hosts; node 3's BMC refuses the password; node 9 does not exist. */
function ports() {
  const calls: string[] = [];
  const state = new Map<number, string>([
    [1, 'off'],
    [2, 'on'],
  ]);
  const client = (host: string): PowerPort => {
    const act = (what: string, to?: string) => async (id: number | string) => {
      calls.push(`${host} ${what} ${id}`);
      if (id === 3)
        throw new RemoteError({
          class: 'BmcAuthenticationFailed',
          message: "wrong password for user 'admin'",
        } as never);
      if (to) state.set(Number(id), to);
      return { node: UUID(Number(id)), power_state: state.get(Number(id))! };
    };
    return {
      getPowerState: act('status'),
      powerOn: act('on', 'on'),
      powerOff: act('off', 'off'),
      reboot: act('reboot', 'on'),
      setBootDevice: async (id, device, o) => {
        calls.push(`${host} bootdev ${device} ${id}`);
        return { node: UUID(Number(id)), boot_device: device, persistent: !!o?.persistent, efi: !!o?.efi };
      },
      getBootDevice: async (id) => ({
        node: UUID(Number(id)),
        boot_device: 'disk',
        persistent: true,
        efi: false,
        valid: true,
      }),
    };
  };
  const p: NodePowerPorts = {
    resolve: async (ref) => {
      const id = /^\d+$/.test(ref) ? Number(ref) : Number(ref.slice(-1));
      if (id < 1 || id > 3) throw new NodeNotFound(ref);
      return { id, uuid: UUID(id), host: id === 2 ? 'cn2' : 'cn1' };
    },
    power: client,
  };
  return { p, calls, state };
}

describe('NodePower (bmctl node power)', () => {
  it('powers each node through the power service of its own host, one row each in the order named', async () => {
    const w = ports();
    const rows = await new NodePower(w.p).run(['2', '1'], 'on');
    expect(rows).toEqual([
      { node: '2', uuid: UUID(2), power_state: 'on', error: null },
      { node: '1', uuid: UUID(1), power_state: 'on', error: null },
    ]);
    expect(w.calls.sort()).toEqual(['cn1 on 1', 'cn2 on 2']);
  });

  it.each([
    ['off', 'cn1 off 1', 'off'],
    ['reboot', 'cn1 reboot 1', 'on'],
    ['status', 'cn1 status 1', 'off'],
  ] as const)('%s', async (action, call, state) => {
    const w = ports();
    expect(await new NodePower(w.p).run(['1'], action)).toEqual([
      { node: '1', uuid: UUID(1), power_state: state, error: null },
    ]);
    expect(w.calls).toEqual([call]);
  });

  it('a node that fails, or does not exist, gets its error; the others are still done', async () => {
    const w = ports();
    const rows = await new NodePower(w.p).run(['9', '3', '1'], 'off');
    expect(rows).toEqual([
      { node: '9', uuid: null, power_state: null, error: 'NodeNotFound: Node 9 could not be found.' },
      {
        node: '3',
        uuid: UUID(3),
        power_state: null,
        error: "BmcAuthenticationFailed: wrong password for user 'admin'",
      },
      { node: '1', uuid: UUID(1), power_state: 'off', error: null },
    ]);
  });

  it('a service that does not answer is that node’s error', async () => {
    const w = ports();
    w.p.power = () =>
      ({ powerOn: () => Promise.reject(new MessagingTimeout('no reply within 5 s')) }) as unknown as PowerPort;
    expect((await new NodePower(w.p).run(['1'], 'on'))[0].error).toBe('MessagingTimeout: no reply within 5 s');
  });

  it('a node named twice (by id and by UUID) is acted on once', async () => {
    const w = ports();
    expect((await new NodePower(w.p).run(['1', UUID(1), '1'], 'reboot')).map((r) => r.node)).toEqual(['1']);
    expect(w.calls).toEqual(['cn1 reboot 1']);
  });

  it('boot device: set and show go to the node’s own host', async () => {
    const w = ports();
    expect(await setBootDevice(w.p, '2', 'pxe', { persistent: true, efi: false })).toEqual({
      node: UUID(2),
      boot_device: 'pxe',
      persistent: true,
      efi: false,
    });
    expect(w.calls).toEqual(['cn2 bootdev pxe 2']);
    expect(await showBootDevice(w.p, '1')).toMatchObject({ boot_device: 'disk', valid: true });
    await expect(showBootDevice(w.p, '7')).rejects.toBeInstanceOf(NodeNotFound);
  });
});
