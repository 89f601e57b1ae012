/**
 * A virtual BMC's machine that is a real (virtual) computer: a QEMU VM whose power is the QEMU
 * process and whose boot device override becomes QEMU's boot order, as VirtualBMC does for
 * libvirt domains. The lab's nodes are these: powering one on through IPMI starts a VM that
 * PXE-boots from the netboot service.
 *
 *   power on     start QEMU (nothing if running); a next-boot-only override applies to this boot
 *                and is then cleared, as a BMC clears it after the boot it was for
 *   power off    stop QEMU (pulling the plug); soft-off likewise (no ACPI agent in the guest)
 *   reset        restart a running VM (with the current override); nothing when off
 *   cycle        off then on
 * The guest powering itself off (`poweroff -f`) ends the process: the chassis reads off.
 */
import { openSync, closeSync } from 'node:fs';
import { type Clock, systemClock } from '@bm/core';
import type { CommandRunner, RunningProgram } from '@bm/exec';
import type { BootFlags, PowerAction } from './commands';
import type { BmcMachine, MachineEvent } from './machine';

export interface QemuMachineOptions {
  runner: CommandRunner;
  /** The VM's NIC MAC (the one enrolled in bm_interfaces). */
  mac: string;
  /** A tap device that exists (in `netns`, if given) and is up. */
  tap: string;
  /** Start QEMU inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** The serial console is appended here (the lab's node console log). */
  serialLog: string;
  /** QEMU's own stdout/stderr (default: discarded). */
  qemuLog?: string;
  memoryMb?: number;
  /** A disk image (raw) attached as a virtio disk. */
  disk?: string;
  /** 'tcg' (default; works everywhere) or 'kvm'. */
  accel?: 'tcg' | 'kvm';
  qemu?: string;
  /** Stamps the events and times the wait for a VM that exits at once (default: the system clock). */
  clock?: Clock;
}

const BOOT_LETTER: Partial<Record<BootFlags['device'], string>> = { pxe: 'n', disk: 'c', cdrom: 'd', floppy: 'a' };

/** QEMU's command line for one power-on with these boot flags (pure: unit-tested). */
export function qemuArgs(o: QemuMachineOptions, flags: BootFlags): string[] {
  // Firmware order when nothing overrides it: disk, then network.
  const letter = flags.valid ? BOOT_LETTER[flags.device] : undefined;
  const boot = !letter ? 'order=cn' : flags.persistent ? `order=${letter}` : `once=${letter},order=cn`;
  return [
    '-machine',
    `pc,accel=${o.accel ?? 'tcg'}`,
    '-m',
    String(o.memoryMb ?? 512),
    '-display',
    'none',
    '-monitor',
    'none',
    '-nodefaults',
    '-vga',
    'none',
    '-chardev',
    `file,id=console,path=${o.serialLog},append=on`,
    '-serial',
    'chardev:console',
    '-boot',
    boot,
    '-netdev',
    `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${o.mac}`,
    ...(o.disk ? ['-drive', `file=${o.disk},if=virtio,format=raw`] : []),
  ];
}

export class QemuMachine implements BmcMachine {
  readonly events: MachineEvent[] = [];
  private bootFlags: BootFlags = { device: 'none', persistent: false, efi: false, valid: false };
  private vm?: RunningProgram;
  /** The command line of the last start (the lab prints it; tests read it). */
  lastArgs: string[] = [];
  private readonly clock: Clock;

  constructor(private readonly o: QemuMachineOptions) {
    this.clock = o.clock ?? systemClock;
  }

  isPoweredOn(): boolean {
    return this.vm?.isRunning() ?? false;
  }

  async power(action: PowerAction): Promise<void> {
    const before = this.isPoweredOn();
    if (action === 'on' && !before) await this.start();
    if (action === 'off' || action === 'soft') await this.vm?.stop(3000);
    if (action === 'reset' && before) {
      await this.vm?.stop(3000);
      await this.start();
    }
    if (action === 'cycle') {
      await this.vm?.stop(3000);
      await this.start();
    }
    this.events.push({
      at: this.clock.now(),
      op: 'power',
      action,
      before: before ? 'on' : 'off',
      after: this.isPoweredOn() ? 'on' : 'off',
    });
  }

  getBootFlags(): BootFlags {
    return { ...this.bootFlags };
  }

  setBootFlags(flags: BootFlags): void {
    this.bootFlags = { ...flags };
    this.events.push({ at: this.clock.now(), op: 'boot', boot: { ...flags } });
  }

  /** Stops the VM (the virtual BMC is going away). */
  async shutdown(): Promise<void> {
    await this.vm?.stop(3000);
  }

  private async start(): Promise<void> {
    this.lastArgs = qemuArgs(this.o, this.bootFlags);
    const qemu = this.o.qemu ?? 'qemu-system-x86_64';
    const [program, args] = this.o.netns
      ? ['ip', ['netns', 'exec', this.o.netns, qemu, ...this.lastArgs]]
      : [qemu, this.lastArgs];
    const fd = this.o.qemuLog ? openSync(this.o.qemuLog, 'a') : undefined;
    try {
      this.vm = await this.o.runner.start(program, args, { logFd: fd });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    // A VM that cannot start (no tap, bad image) exits within moments: report it as a failure.
    const early = await Promise.race([this.vm.exited, this.clock.sleep(300)]);
    if (early)
      throw new Error(
        `QEMU exited at once (${early.signal ?? `status ${early.code}`})${this.o.qemuLog ? `: see ${this.o.qemuLog}` : ''}`,
      );
    // A next-boot-only override is used up by this boot.
    if (this.bootFlags.valid && !this.bootFlags.persistent)
      this.bootFlags = { ...this.bootFlags, device: 'none', valid: false };
  }
}
