import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@bm/core';
import { CommandRunner, type RunningProgram } from '@bm/exec';
import { QemuMachine, type QemuMachineOptions, qemuArgs } from './qemu-machine';

const base: QemuMachineOptions = {
  runner: new CommandRunner(),
  mac: '52:54:00:b3:00:01',
  tap: 'tap1',
  serialLog: '/lab/node-1.log',
};
const flags = (device: 'none' | 'pxe' | 'disk', persistent: boolean, valid = true) => ({
  device,
  persistent,
  efi: false,
  valid,
});
const bootArg = (a: string[]) => a[a.indexOf('-boot') + 1];

describe('qemuArgs', () => {
  it("maps the boot override to QEMU's boot order: next boot only → once=, persistent → order=, none → disk then network", () => {
    expect(bootArg(qemuArgs(base, flags('pxe', false)))).toBe('once=n,order=cn');
    expect(bootArg(qemuArgs(base, flags('pxe', true)))).toBe('order=n');
    expect(bootArg(qemuArgs(base, flags('disk', true)))).toBe('order=c');
    expect(bootArg(qemuArgs(base, flags('none', false, false)))).toBe('order=cn');
    expect(bootArg(qemuArgs(base, flags('pxe', true, false)))).toBe('order=cn'); // flags not valid: ignored
  });

  it("the NIC carries the enrolled MAC on the tap; the console is appended to the node's log; a disk when given", () => {
    const a = qemuArgs({ ...base, disk: '/lab/node-1.img', memoryMb: 1024 }, flags('pxe', false)).join(' ');
    expect(a).toContain(
      '-netdev tap,id=n0,ifname=tap1,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:b3:00:01',
    );
    expect(a).toContain('-chardev file,id=console,path=/lab/node-1.log,append=on -serial chardev:console');
    expect(a).toContain('-drive file=/lab/node-1.img,if=virtio,format=raw');
    expect(a).toContain('-m 1024');
  });
});

describe('QemuMachine (a stand-in QEMU that records its arguments and runs until killed)', () => {
  let dir: string;
  let fake: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qemu-machine-'));
    fake = join(dir, 'qemu');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> ${dir}/starts\nexec sleep 30\n`);
    chmodSync(fake, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('power on starts the VM with a next-boot PXE override, which is then used up; off stops it; reset restarts it', async () => {
    const m = new QemuMachine({ ...base, qemu: fake });
    m.setBootFlags(flags('pxe', false));
    await m.power('on');
    expect(m.isPoweredOn()).toBe(true);
    expect(m.getBootFlags()).toMatchObject({ device: 'none', valid: false });
    await m.power('on'); // already on: no second VM
    await m.power('reset');
    expect(m.isPoweredOn()).toBe(true);
    await m.power('off');
    expect(m.isPoweredOn()).toBe(false);
    await m.power('reset'); // off: nothing
    expect(m.isPoweredOn()).toBe(false);
    const starts = readFileSync(join(dir, 'starts'), 'utf8').trim().split('\n');
    expect(starts.map((l) => l.match(/-boot (\S+)/)![1])).toEqual(['once=n,order=cn', 'order=cn']);
    expect(m.events.filter((e) => e.op === 'power').map((e) => `${e.action}:${e.before}->${e.after}`)).toEqual([
      'on:off->on',
      'on:on->on',
      'reset:on->on',
      'off:on->off',
      'reset:off->off',
    ]);
  });

  it('a VM that exits at once is a failed power on', async () => {
    const broken = join(dir, 'broken');
    writeFileSync(broken, '#!/bin/sh\nexit 1\n');
    chmodSync(broken, 0o755);
    const m = new QemuMachine({ ...base, qemu: broken });
    await expect(m.power('on')).rejects.toThrow(/QEMU exited at once \(status 1\)/);
    expect(m.isPoweredOn()).toBe(false);
  });

  it('the guest powering itself off reads as off', async () => {
    const short = join(dir, 'short');
    writeFileSync(short, '#!/bin/sh\nsleep 0.6\n');
    chmodSync(short, 0o755);
    const m = new QemuMachine({ ...base, qemu: short });
    await m.power('on');
    expect(m.isPoweredOn()).toBe(true);
    await new Promise((r) => setTimeout(r, 800));
    expect(m.isPoweredOn()).toBe(false);
  });
});

describe('QemuMachine on a ManualClock (a stand-in runner: no process)', () => {
  /** A runner whose programs run until `exit` is called. */
  class FakeRunner extends CommandRunner {
    /** Ends the program started last with this status. */
    exit: (code: number) => void = () => undefined;
    override async start(): Promise<RunningProgram> {
      let running = true;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
        this.exit = (code) => {
          running = false;
          done({ code, signal: null });
        };
      });
      return { pid: 1, exited, isRunning: () => running, stop: async () => this.exit(0) };
    }
  }

  it('a power on succeeds once the VM has run 300 ms of the clock, and is stamped with its time', async () => {
    const clock = new ManualClock(5000);
    const m = new QemuMachine({ ...base, runner: new FakeRunner(), clock });
    let done = false;
    const on = m.power('on').then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    clock.advance(299);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(true);
    await on;
    expect(m.isPoweredOn()).toBe(true);
    expect(m.events).toEqual([{ at: 5300, op: 'power', action: 'on', before: 'off', after: 'on' }]);
  });

  it('a VM that exits within those 300 ms is a failed power on', async () => {
    const clock = new ManualClock();
    const runner = new FakeRunner();
    const m = new QemuMachine({ ...base, runner, clock });
    const on = m.power('on').catch((e: Error) => e);
    await new Promise((r) => setImmediate(r));
    clock.advance(299);
    runner.exit(1);
    expect(await on).toEqual(new Error('QEMU exited at once (status 1)'));
  });
});
