import { ManualClock } from '@bm/core';
import { CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { FakePowerDriver } from './fake.driver';
import { IpmitoolDriver } from './ipmitool.driver';
import { PowerActionFailed, PowerManager } from './power-manager';
import { type PowerRecord, type PowerRecordStore, PowerSync } from './power-sync';
import type { PowerTarget } from './driver';

const node = (id: number, port = 6230 + id): PowerTarget => ({
  id,
  uuid: `uuid-${id}`,
  pm_address: `127.0.0.1:${port}`,
  pm_user: 'admin',
  pm_password: 'pa$$word',
});

describe('PowerManager (Nova ipmi.py semantics)', () => {
  it('sends the command once, then checks until the state is reached', async () => {
    const d = new FakePowerDriver();
    const pm = new PowerManager(d, { retries: 10, pollIntervalMs: 1 });
    expect(await pm.powerOn(node(1))).toBe('on');
    expect(d.calls).toEqual(['status 1', 'on 1', 'status 1']);
  });

  it('a node already in the state gets no command', async () => {
    const d = new FakePowerDriver();
    d.state.set(1, 'on');
    expect(await new PowerManager(d, { retries: 10, pollIntervalMs: 1 }).powerOn(node(1))).toBe('on');
    expect(d.calls).toEqual(['status 1']);
  });

  it('a node stuck in its state fails after retries+1 checks, named as Nova names it', async () => {
    const d = new FakePowerDriver();
    d.stuck = true;
    const err = await new PowerManager(d, { retries: 3, pollIntervalMs: 1 }).powerOn(node(1)).catch((e) => e);
    expect(err).toBeInstanceOf(PowerActionFailed);
    expect([err.name, err.message]).toEqual(['InstancePowerOnFailure', 'node 1 is not powered on after 4 checks']);
    expect(d.calls.filter((c) => c.startsWith('on'))).toHaveLength(1);
    d.state.set(2, 'on');
    const off = await new PowerManager(d, { retries: 1, pollIntervalMs: 1 }).powerOff(node(2)).catch((e) => e);
    expect(off.name).toBe('InstancePowerOffFailure');
  });

  it('BMC errors are retried within the checks and reported at the end', async () => {
    const d = new FakePowerDriver();
    d.failWith = new Error('BMC 127.0.0.1:6231: no answer');
    const err = await new PowerManager(d, { retries: 2, pollIntervalMs: 1 }).powerOn(node(1)).catch((e) => e);
    expect(err.message).toBe('node 1 is not powered on after 3 checks: BMC 127.0.0.1:6231: no answer');
  });

  it('reboot is off, boot device PXE persistent, on', async () => {
    const d = new FakePowerDriver();
    d.state.set(1, 'on');
    await new PowerManager(d, { retries: 2, pollIntervalMs: 1 }).reboot(node(1));
    expect(d.calls).toEqual([
      'status 1',
      'off 1',
      'status 1',
      'bootdev pxe persistent 1',
      'status 1',
      'on 1',
      'status 1',
    ]);
  });

  it('waits pollIntervalMs of its clock between two checks, and no longer', async () => {
    const clock = new ManualClock();
    const d = new FakePowerDriver();
    d.stuck = true;
    const failed = new PowerManager(d, { retries: 2, pollIntervalMs: 1000, clock }).powerOn(node(1)).catch((e) => e);
    const flush = () => new Promise((r) => setImmediate(r));
    await flush();
    expect(d.calls).toEqual(['status 1', 'on 1', 'status 1']); // the command, then a check at once
    clock.advance(999);
    await flush();
    expect(d.calls).toHaveLength(3);
    clock.advance(1);
    await flush();
    expect(d.calls).toEqual(['status 1', 'on 1', 'status 1', 'status 1']); // the third and last check
    let settled = false;
    void failed.then(() => (settled = true));
    clock.advance(999);
    await flush();
    expect(settled).toBe(false); // a poll interval after the last check, as Nova's loop
    clock.advance(1);
    expect(await failed).toBeInstanceOf(PowerActionFailed);
    expect(d.calls).toHaveLength(4);
  });
});

describe('PowerSync', () => {
  class MemoryStore implements PowerRecordStore {
    readonly rows = new Map<number, PowerRecord>();
    async load(ids: number[]) {
      return new Map(ids.filter((i) => this.rows.has(i)).map((i) => [i, this.rows.get(i)!]));
    }
    async save(r: PowerRecord) {
      this.rows.set(r.nodeId, r);
    }
  }

  it('records state and latency, notifies changes, and backs off failing BMCs exponentially', async () => {
    const clock = new ManualClock(1_000_000);
    const d = new FakePowerDriver();
    const store = new MemoryStore();
    const changes: string[] = [];
    const errors: string[] = [];
    const sync = new PowerSync(d, store, {
      intervalMs: 60_000,
      deadlineMs: 1000,
      clock,
      onChange: (t, from, to) => void changes.push(`${t.id}:${from}->${to}`),
      onError: (t, e) => void errors.push(`${t.id}:${(e as Error).message}`),
    });
    const targets = [node(1), node(2)];
    d.state.set(1, 'on');
    expect(await sync.sweep(targets)).toMatchObject({ checked: 2, failed: 0, changed: 2 });
    expect(changes).toEqual(['1:null->on', '2:null->off']);
    expect(store.rows.get(1)).toMatchObject({ state: 'on', failures: 0, error: null, latencyMs: 0 });

    clock.advance(60_000);
    d.failWith = new Error('no answer');
    expect(errors).toEqual([]);
    expect(await sync.sweep(targets)).toMatchObject({ checked: 2, failed: 2, changed: 0 });
    expect(errors).toEqual(['1:no answer', '2:no answer']); // each failing BMC told (the metrics)
    expect(store.rows.get(1)).toMatchObject({ state: 'on', failures: 1, error: 'no answer' });
    expect(store.rows.get(1)!.nextCheckAt.getTime() - clock.now()).toBe(120_000);

    clock.advance(60_000); // not due yet: skipped, not asked
    const asked = d.calls.length;
    expect(await sync.sweep(targets)).toMatchObject({ checked: 0, skipped: 2 });
    expect(d.calls.length).toBe(asked);

    clock.advance(60_000);
    await sync.sweep(targets);
    expect(store.rows.get(1)!.failures).toBe(2);
    expect(store.rows.get(1)!.nextCheckAt.getTime() - clock.now()).toBe(240_000);

    clock.advance(240_000);
    d.failWith = undefined;
    d.state.set(1, 'off');
    await sync.sweep(targets);
    expect(store.rows.get(1)).toMatchObject({ state: 'off', failures: 0, error: null });
    expect(changes).toEqual(['1:null->on', '2:null->off', '1:on->off']);
  });

  it('caps the back-off at maxBackoffMs, and times calls on its clock', async () => {
    const clock = new ManualClock(0);
    class SlowDriver extends FakePowerDriver {
      override async getPowerState(t: PowerTarget) {
        clock.advance(250); // every BMC call takes 250 ms of the clock
        return super.getPowerState(t);
      }
    }
    const d = new SlowDriver();
    const store = new MemoryStore();
    const sync = new PowerSync(d, store, { intervalMs: 60_000, deadlineMs: 1000, maxBackoffMs: 300_000, clock });
    d.failWith = new Error('no answer');
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      await sync.sweep([node(1)]);
      const wait = store.rows.get(1)!.nextCheckAt.getTime() - clock.now();
      waits.push(wait);
      clock.advance(wait);
    }
    expect(waits).toEqual([120_000, 240_000, 300_000, 300_000]);
    d.failWith = undefined;
    const report = await sync.sweep([node(1)]);
    expect(report.durationMs).toBe(250);
    expect(store.rows.get(1)).toMatchObject({
      state: 'off',
      failures: 0,
      latencyMs: 250,
      checkedAt: new Date(clock.now()),
      nextCheckAt: new Date(clock.now() + 60_000),
    });
  });
});

describe('IpmitoolDriver', () => {
  class RecordingRunner extends CommandRunner {
    readonly runs: { program: string; args: readonly string[]; env?: Record<string, string> }[] = [];
    reply = 'Chassis Power is on\n';
    override async run(program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
      this.runs.push({ program, args, env: o.env });
      return { code: 0, signal: null, stdout: this.reply, stderr: '', durationMs: 1 };
    }
  }

  it('never puts the password on the command line: -E and IPMI_PASSWORD', async () => {
    const r = new RecordingRunner();
    const d = new IpmitoolDriver(r);
    expect(await d.getPowerState(node(1))).toBe('on');
    await d.setBootDevice(node(1), 'pxe', { persistent: true, efi: false });
    expect(r.runs.map((x) => x.args.join(' '))).toEqual([
      '-I lanplus -C 3 -H 127.0.0.1 -p 6231 -U admin -E power status',
      '-I lanplus -C 3 -H 127.0.0.1 -p 6231 -U admin -E chassis bootdev pxe options=persistent',
    ]);
    expect(r.runs.every((x) => !x.args.join(' ').includes('pa$$word') && x.env?.IPMI_PASSWORD === 'pa$$word')).toBe(
      true,
    );
  });

  it('an empty password is an empty IPMI_PASSWORD (a NUL cannot be in an environment); odd answers are errors', async () => {
    const r = new RecordingRunner();
    await new IpmitoolDriver(r).setPower({ ...node(1), pm_password: '' }, 'on');
    expect(r.runs[0].env).toEqual({ IPMI_PASSWORD: '' });
    r.reply = 'Chassis Power is unknown\n';
    await expect(new IpmitoolDriver(r, { attempts: 1 }).getPowerState(node(1))).rejects.toThrow(
      /unexpected answer 'Chassis Power is unknown'/,
    );
  });

  it('gives each run what is left of the deadline on its clock, and starts none past it', async () => {
    const clock = new ManualClock();
    const timeouts: (number | undefined)[] = [];
    class SlowFailingRunner extends CommandRunner {
      override async run(_program: string, _args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
        timeouts.push(o.timeoutMs);
        clock.advance(600); // each run takes 600 ms of the clock, then fails
        return { code: 1, signal: null, stdout: '', stderr: 'Unable to establish IPMI v2 session\n', durationMs: 600 };
      }
    }
    const d = new IpmitoolDriver(new SlowFailingRunner(), { attempts: 3, clock });
    await expect(d.getPowerState(node(1), 1000)).rejects.toThrow(/Unable to establish IPMI v2 session$/);
    expect(timeouts).toEqual([1000, 400]); // a third attempt would start after the deadline
  });
});
