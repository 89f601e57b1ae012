/**
 * The phases a simulated node goes through, and which may follow which. Pure: the clock is given.
 *
 *   off ─▶ dhcp ─▶ tftp ─▶ deploy-wait ─▶ exporting ─▶ callback ─▶ waiting-done ─▶ rebooting ─▶ dhcp …
 *                      └─▶ booted-instance      (the PXE config's default label is `boot`)
 *   off | rebooting ─▶ booted-instance          (a boot from the local disk)
 *
 * - dhcp: DISCOVER/OFFER/REQUEST/ACK; tftp: the boot file, the PXE config, the label's files;
 * - deploy-wait: the deploy ramdisk is up (its label parsed); a node that never calls back stays here;
 * - exporting: its disk going out as an iSCSI LUN; callback: the POST to the deploy helper;
 * - waiting-done: listening on <its address>:10000;
 * - rebooting: `done` came and the target is removed, or the BMC reset or power-cycled the node;
 * - booted-instance: the instance's kernel and ramdisk loaded, root=UUID= checked against the disk;
 * - failed: a step failed (the reason is kept); the node stays so until it is powered off or reset.
 * Power off leads to `off` from anywhere; a reset or power cycle to `rebooting` from any phase but off.
 */
export const PHASES = [
  'off',
  'dhcp',
  'tftp',
  'deploy-wait',
  'exporting',
  'callback',
  'waiting-done',
  'rebooting',
  'booted-instance',
  'failed',
] as const;
export type Phase = (typeof PHASES)[number];

/** The phases each phase may go on to, besides `off` (any phase) and `rebooting` (any but off). */
const NEXT: Readonly<Record<Phase, readonly Phase[]>> = {
  off: ['dhcp', 'booted-instance', 'failed'],
  dhcp: ['tftp', 'failed'],
  tftp: ['deploy-wait', 'booted-instance', 'failed'],
  'deploy-wait': ['exporting', 'failed'],
  exporting: ['callback', 'failed'],
  callback: ['waiting-done', 'failed'],
  'waiting-done': ['failed'],
  rebooting: ['dhcp', 'booted-instance', 'failed'],
  'booted-instance': [],
  failed: [],
};

/** Whether `to` may follow `from`. */
export function mayFollow(from: Phase, to: Phase): boolean {
  if (to === 'off') return true;
  if (to === 'rebooting') return from !== 'off';
  return NEXT[from].includes(to);
}

export interface PhaseEntry {
  phase: Phase;
  /** When it was entered, ms since the epoch. */
  at: number;
  /** Why (failed), or what (the file, the address…). */
  detail?: string;
}

/** The current phase, when it began, and the last `keep` phases entered. */
export class PhaseTracker {
  private readonly entries: PhaseEntry[];

  constructor(
    private readonly now: () => number,
    private readonly keep = 64,
  ) {
    this.entries = [{ phase: 'off', at: now() }];
  }

  get current(): PhaseEntry {
    return this.entries[this.entries.length - 1];
  }

  /** Oldest first (at most `keep`). */
  get history(): readonly PhaseEntry[] {
    return this.entries;
  }

  /** Enters `phase`; throws RangeError when it may not follow the current one (a bug in the node). */
  enter(phase: Phase, detail?: string): PhaseEntry {
    const from = this.current.phase;
    if (!mayFollow(from, phase)) throw new RangeError(`phase ${phase} cannot follow ${from}`);
    const entry: PhaseEntry = { phase, at: this.now(), ...(detail !== undefined ? { detail } : {}) };
    this.entries.push(entry);
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep);
    return entry;
  }
}
