import { ManualClock } from '@bm/core';
import type { PowerAction } from '@bm/ipmi';
import type { PowerTarget } from './driver';
import { FakePowerDriver } from './fake.driver';
import { PowerDeadlinePassed } from './node-lanes';
import { PowerManager } from './power-manager';

const node = (id: number): PowerTarget => ({
  id,
  uuid: `uuid-${id}`,
  pm_address: `10.0.0.${id}`,
  pm_user: 'admin',
  pm_password: 'pw',
});

/**
 * A BMC whose power commands take `commandMs` of the test's clock (a worst-case power-on), cut
 * short by the call's deadline as the real drivers cut theirs; it counts the calls in flight on
 * each node and keeps the highest count seen.
 */
class SlowBmc extends FakePowerDriver {
  readonly inFlight = new Map<number, number>();
  readonly mostInFlight = new Map<number, number>();
  readonly log: string[] = [];

  constructor(
    private readonly clock: ManualClock,
    private readonly commandMs: number,
  ) {
    super();
  }

  private enter(id: number, what: string): void {
    const n = (this.inFlight.get(id) ?? 0) + 1;
    this.inFlight.set(id, n);
    this.mostInFlight.set(id, Math.max(n, this.mostInFlight.get(id) ?? 0));
    this.log.push(`${this.clock.now() / 1000}s ${what} ${id}`);
  }

  private leave(id: number): void {
    this.inFlight.set(id, this.inFlight.get(id)! - 1);
  }

  override async getPowerState(t: PowerTarget) {
    this.enter(t.id, 'status');
    try {
      return await super.getPowerState(t);
    } finally {
      this.leave(t.id);
    }
  }

  override async setPower(t: PowerTarget, action: PowerAction, deadlineMs?: number): Promise<void> {
    this.enter(t.id, action);
    try {
      const cut = deadlineMs !== undefined && deadlineMs < this.commandMs;
      await this.clock.sleep(cut ? deadlineMs : this.commandMs);
      if (cut) throw new Error(`BMC ${t.pm_address}: no answer within ${deadlineMs} ms`);
      await super.setPower(t, action);
    } finally {
      this.leave(t.id);
    }
  }
}

const flush = () => new Promise((r) => setImmediate(r));

/** Moves the clock on by `ms`, one second at a time, letting the operations run between steps. */
async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 1000) {
    await flush();
    clock.advance(1000);
  }
  await flush();
}

function world(commandMs: number) {
  const clock = new ManualClock(0);
  const bmc = new SlowBmc(clock, commandMs);
  const pm = new PowerManager(bmc, { retries: 3, pollIntervalMs: 1000, callDeadlineMs: 120_000, clock });
  return { clock, bmc, pm };
}

describe('PowerManager: one operation per node at a time, none past its caller deadline', () => {
  it("compute's 60 s power-on outlived by the BMC, then its cleanup power-off: never both at once, the node ends off", async () => {
    const { clock, bmc, pm } = world(90_000);
    const on = pm.powerOn(node(1), { timeoutMs: 60_000 }).catch((e: Error) => e);
    await run(clock, 60_000); // compute's call times out; its cleanup follows
    const off = pm.powerOff(node(1), { timeoutMs: 60_000 }).catch((e: Error) => e);
    await run(clock, 120_000);
    expect(await on).toBeInstanceOf(PowerDeadlinePassed);
    expect(await off).toBe('off');
    expect(bmc.mostInFlight.get(1)).toBe(1);
    expect(bmc.state.get(1) ?? 'off').toBe('off');
    // The power-on's command was cut at the caller's 60 s, not at the driver's own 120 s.
    expect(bmc.log).toEqual(['0s status 1', '0s on 1', '61s status 1']);
    expect(pm.busyNodes).toBe(0);
  });

  it('an operation whose deadline passes while it waits for its turn is not run at all', async () => {
    const { clock, bmc, pm } = world(30_000);
    const on = pm.powerOn(node(1));
    const off = pm.powerOff(node(1), { timeoutMs: 10_000 }).catch((e: Error) => e);
    await run(clock, 40_000);
    expect(await on).toBe('on');
    const err = await off;
    expect(err).toBeInstanceOf(PowerDeadlinePassed);
    expect((err as Error).message).toBe("node 1: power off not started: its caller's deadline passed while it waited");
    expect(bmc.log).toEqual(['0s status 1', '0s on 1', '30s status 1']); // no call for the power-off
  });

  it('a reboot holds the lane from its power-off to its power-on; other nodes are not held up', async () => {
    const { clock, bmc, pm } = world(5_000);
    bmc.state.set(1, 'on');
    const reboot = pm.reboot(node(1));
    const off = pm.powerOff(node(1));
    const other = pm.powerOn(node(2));
    await run(clock, 30_000);
    expect([await reboot, await off, await other]).toEqual(['on', 'off', 'on']);
    expect(bmc.mostInFlight.get(1)).toBe(1);
    expect(bmc.log.filter((l) => l.endsWith(' 1'))).toEqual([
      '0s status 1',
      '0s off 1',
      '5s status 1', // off: boot device, then the power-on
      '5s status 1',
      '5s on 1', // the reboot's power-on, before the queued power-off
      '10s status 1',
      '10s status 1',
      '10s off 1',
      '15s status 1',
    ]);
    expect(bmc.log).toContain('0s on 2'); // node 2 did not wait for node 1
  });
});
