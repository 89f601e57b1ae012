import { Logger } from '@nestjs/common';
import { ManualClock } from '@bm/core';
import type {
  NodeEventInput,
  NodeEventRepository,
  NodeRepository,
  PowerRecordRepository,
  PowerTargetRow,
} from '@bm/db';
import { NodeNotFound } from '@bm/domain';
import type { PowerAction } from '@bm/ipmi';
import { FakePowerDriver, PowerManager, type PowerTarget } from '@bm/power';
import { PowerRpcController } from './power-rpc.controller';
import { PowerTimeline } from './power-timeline';

const PASSWORD = 'bmc-Secret-9';
const NODE: PowerTargetRow = {
  id: 3,
  uuid: 'c0ffee00-0000-4000-8000-000000000003',
  pm_address: '10.0.0.3',
  pm_user: 'admin',
  pm_password: PASSWORD,
};

/** A driver whose power commands take 120 ms of the test's clock. */
class SlowDriver extends FakePowerDriver {
  constructor(private readonly clock: ManualClock) {
    super();
  }

  override async setPower(t: PowerTarget, action: PowerAction): Promise<void> {
    this.clock.advance(120);
    return super.setPower(t, action);
  }
}

/** The timeline's repository, as a failing one: rejecting, or throwing before any promise. */
const BROKEN = {
  reject: () => Promise.reject(new Error('database away')),
  throw: () => {
    throw new Error('no pool');
  },
};

function world(broken?: keyof typeof BROKEN) {
  const clock = new ManualClock(1_000);
  const driver = new SlowDriver(clock);
  const events: NodeEventInput[] = [];
  const repo = { record: broken ? BROKEN[broken] : async (e: NodeEventInput) => void events.push(e) };
  const nodes = {
    powerTarget: async (ref: string | number) => {
      if (String(ref) !== String(NODE.id) && ref !== NODE.uuid) throw new NodeNotFound(String(ref));
      return { ...NODE };
    },
  };
  const observed: [number, string][] = [];
  const records = { observed: async (id: number, state: string) => void observed.push([id, state]) };
  const rpc = new PowerRpcController(
    new PowerManager(driver, { retries: 1, pollIntervalMs: 0 }),
    nodes as unknown as NodeRepository,
    new PowerTimeline(repo as unknown as NodeEventRepository, clock),
    records as unknown as PowerRecordRepository,
  );
  return { driver, events, rpc, observed };
}

/** Lets the timeline's insert (not awaited by the call) run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('PowerRpcController: every power call on the node timeline', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => (warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined)));
  afterEach(() => jest.restoreAllMocks());

  it('the power record follows what each call saw (node list and the rack view are current at once)', async () => {
    const w = world();
    await w.rpc.powerOn({ node: 3 });
    await w.rpc.powerOff({ node: 3 });
    await w.rpc.getPowerState({ node: 3 });
    await w.rpc.setBootDevice({ node: 3, device: 'pxe' });
    await settle();
    expect(w.observed).toEqual([
      [3, 'on'],
      [3, 'off'],
      [3, 'off'],
    ]);
  });

  it('power on, off, reboot, state and boot device: kind, outcome, duration', async () => {
    const w = world();
    expect(await w.rpc.powerOn({ node: NODE.uuid })).toEqual({ node: NODE.uuid, power_state: 'on' });
    await w.rpc.powerOff({ node: 3 });
    await w.rpc.reboot({ node: 3 });
    await w.rpc.getPowerState({ node: 3 });
    expect(await w.rpc.setBootDevice({ node: 3, device: 'disk', persistent: true })).toEqual({
      node: NODE.uuid,
      boot_device: 'disk',
      persistent: true,
      efi: false,
    });
    await settle();
    expect(w.events.map((e) => [e.nodeId, e.source, e.kind, e.detail, e.durationMs])).toEqual([
      [3, 'power', 'power.on', 'power on: node is on', 120],
      [3, 'power', 'power.off', 'power off: node is off', 120],
      [3, 'power', 'power.reboot', 'reboot (off, boot device pxe persistent, on): node is on', 120],
      [3, 'power', 'power.state', 'power state read: node is on', 0],
      [3, 'power', 'power.boot_device', 'boot device disk persistent', 0],
    ]);
  });

  it('get_boot_device: what the BMC holds, read on the timeline', async () => {
    const w = world();
    expect(await w.rpc.getBootDevice({ node: 3 })).toEqual({
      node: NODE.uuid,
      boot_device: 'none',
      persistent: false,
      efi: false,
      valid: false,
    });
    await w.rpc.setBootDevice({ node: 3, device: 'disk', persistent: true });
    expect(await w.rpc.getBootDevice({ node: NODE.uuid })).toMatchObject({ boot_device: 'disk', persistent: true });
    await settle();
    expect(w.events.filter((e) => e.detail.startsWith('boot device read')).map((e) => [e.kind, e.detail])).toEqual([
      ['power.boot_device', 'boot device read: none set'],
      ['power.boot_device', 'boot device read: disk persistent'],
    ]);
    await expect(w.rpc.getBootDevice({ node: 999 })).rejects.toBeInstanceOf(NodeNotFound);
  });

  it('a failed call is recorded with its error (the password masked) and still fails', async () => {
    const w = world();
    w.driver.failWith = new Error(`BMC 10.0.0.3 refused user admin password ${PASSWORD}`);
    await expect(w.rpc.setBootDevice({ node: 3, device: 'pxe', efi: true })).rejects.toThrow(PASSWORD);
    w.driver.failWith = undefined;
    w.driver.stuck = true;
    await expect(w.rpc.powerOn({ node: 3 })).rejects.toThrow(/not powered on/);
    await settle();
    expect(w.events.map((e) => [e.kind, e.detail])).toEqual([
      ['power.boot_device', 'boot device pxe efi failed: BMC 10.0.0.3 refused user admin password ******'],
      ['power.on', 'power on failed: InstancePowerOnFailure: node 3 is not powered on after 2 checks'],
    ]);
    expect(JSON.stringify(w.events)).not.toContain(PASSWORD);
  });

  it("the caller's timeout (seconds) becomes the operation's deadline; without one, none", async () => {
    const w = world();
    const on = jest.spyOn(PowerManager.prototype, 'powerOn');
    const boot = jest.spyOn(PowerManager.prototype, 'setBootDevice');
    await w.rpc.powerOn({ node: 3, timeout: 60 });
    await w.rpc.powerOn({ node: 3 });
    await w.rpc.setBootDevice({ node: 3, device: 'pxe', timeout: 1.5 });
    expect(on.mock.calls.map((c) => c[1])).toEqual([{ timeoutMs: 60_000 }, {}]);
    expect(boot.mock.calls[0][3]).toEqual({ timeoutMs: 1500 });
  });

  it('an unknown node has no timeline: nothing recorded, NodeNotFound as before', async () => {
    const w = world();
    await expect(w.rpc.powerOff({ node: 999 })).rejects.toBeInstanceOf(NodeNotFound);
    await settle();
    expect(w.events).toEqual([]);
  });

  it.each(['reject', 'throw'] as const)('a timeline that cannot be written (%s) fails no call', async (how) => {
    const w = world(how);
    expect(await w.rpc.powerOn({ node: 3 })).toEqual({ node: NODE.uuid, power_state: 'on' });
    await settle();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('node 3: power.on not written to the timeline'));
  });
});
