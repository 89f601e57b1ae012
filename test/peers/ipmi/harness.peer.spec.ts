/**
 * Peer test of the IPMI harness itself: the real ipmitool against ipmi_sim and against the
 * pyghmi fake BMC, both started and stopped by ./harness.
 */
import {
  type FakeBmc,
  type FakeBmcEvent,
  type IpmiSim,
  freeUdpPort,
  ipmitool,
  startFakeBmc,
  startIpmiSim,
} from './harness';
import { until } from '../../support/amqp';

jest.setTimeout(30_000);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ipmi_sim peer', () => {
  let sim: IpmiSim;

  beforeAll(async () => {
    sim = await startIpmiSim({ port: await freeUdpPort() });
  });
  afterAll(() => sim?.stop());

  it('starts powered off, with no boot device', async () => {
    const r = await sim.ipmitool(['chassis', 'power', 'status']);
    expect(r).toMatchObject({ code: 0, stdout: 'Chassis Power is off\n' });
    expect(await sim.power()).toBe('off');
    expect(await sim.bootDevice()).toBe('none');
    expect(await sim.log()).toContain('- get power');
  });

  it('powers on through chassis_control', async () => {
    const r = await sim.ipmitool(['chassis', 'power', 'on']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Up/On');
    expect(await sim.power()).toBe('on');
    expect((await sim.log()).some((l) => /^\S+ set power 1$/.test(l))).toBe(true);
    expect((await sim.ipmitool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is on\n');
  });

  it('sets the boot device to pxe', async () => {
    const r = await sim.ipmitool(['chassis', 'bootdev', 'pxe']);
    expect(r).toMatchObject({ code: 0, stdout: 'Set Boot Device to pxe\n' });
    expect(await sim.bootDevice()).toBe('pxe');
    expect((await sim.log()).some((l) => / set boot pxe$/.test(l))).toBe(true);
  });

  it('power cycle: off at once, on again ~1 s later', async () => {
    const before = (await sim.log()).length;
    const r = await sim.ipmitool(['chassis', 'power', 'cycle']);
    expect(r.code).toBe(0);
    // ipmi_sim runs `set power 0` before it answers, `set power 1` from a 1 s timer.
    expect((await sim.log()).slice(before).some((l) => / set power 0$/.test(l))).toBe(true);
    await until(() => sim.power(), 'on', 5_000);
    const sets = (await sim.log()).slice(before).filter((l) => l.includes(' set power '));
    expect(sets.map((l) => l.replace(/^\S+ /, ''))).toEqual(['set power 0', 'set power 1']);
    const [off, on] = sets.map((l) => Number(l.split(' ')[0]));
    expect(on - off).toBeGreaterThanOrEqual(0.9); // /proc/uptime stamps, 10 ms resolution
  });

  it('rejects a wrong password quickly', async () => {
    const bad = await ipmitool(['chassis', 'power', 'status'], { port: sim.port, password: 'wrong', timeoutMs: 5_000 });
    expect(bad.code).not.toBe(0);
    expect(bad.timedOut).toBe(false);
  });
});

describe('fake_bmc peer', () => {
  let bmc: FakeBmc;

  beforeAll(async () => {
    bmc = await startFakeBmc({ port: await freeUdpPort() });
  });
  afterAll(() => bmc?.stop());

  const op = (name: string) => (e: FakeBmcEvent) => e.op === name;

  it('power status / on / off', async () => {
    expect((await bmc.ipmitool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is off\n');

    expect((await bmc.ipmitool(['chassis', 'power', 'on'])).code).toBe(0);
    expect(await bmc.waitFor(op('power_on'), 2_000)).toMatchObject({ before: 'off', after: 'on' });
    expect((await bmc.ipmitool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is on\n');

    expect((await bmc.ipmitool(['chassis', 'power', 'off'])).code).toBe(0);
    expect(await bmc.waitFor(op('power_off'), 2_000)).toMatchObject({ before: 'on', after: 'off' });
    expect((await bmc.ipmitool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is off\n');
  });

  it('chassis bootdev pxe', async () => {
    const from = bmc.events.length;
    expect((await bmc.ipmitool(['chassis', 'bootdev', 'pxe'])).code).toBe(0);
    expect(await bmc.waitFor(op('set_boot_device'), 2_000, from)).toMatchObject({
      bootdev: 'network',
      persistent: false,
    });
  });

  it('power cycle and reset', async () => {
    const from = bmc.events.length;
    expect((await bmc.ipmitool(['chassis', 'power', 'cycle'])).code).toBe(0);
    expect((await bmc.ipmitool(['chassis', 'power', 'reset'])).code).toBe(0);
    await bmc.waitFor(op('power_reset'), 2_000, from);
    expect(bmc.events.slice(from).map((e) => [e.op, e.after])).toEqual([
      ['power_cycle', 'on'],
      ['power_reset', 'on'],
    ]);
  });

  it('waitFor times out with the events seen', async () => {
    await expect(bmc.waitFor(op('never'), 100)).rejects.toThrow(/no matching event within 100 ms/);
  });
});

describe('harness', () => {
  it('kills ipmitool on timeout (nobody listening)', async () => {
    const t0 = Date.now();
    const r = await ipmitool(['chassis', 'power', 'status'], { port: await freeUdpPort(), timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBe(124);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('stop() is idempotent and ends the processes', async () => {
    const [sim, bmc] = await Promise.all([
      startIpmiSim({ port: await freeUdpPort(), power: 'on' }),
      startFakeBmc({ port: await freeUdpPort(), power: 'on' }),
    ]);
    expect(await sim.power()).toBe('on');
    expect((await bmc.ipmitool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is on\n');
    await Promise.all([sim.stop(), sim.stop(), bmc.stop()]);
    await bmc.stop();
    expect(isAlive(sim.pid)).toBe(false);
    expect(isAlive(bmc.pid)).toBe(false);
    await expect(bmc.waitFor(() => true, 100, bmc.events.length)).rejects.toThrow(/not running/);
  });
});
