import { InvalidArgumentError } from 'commander';
import type { MaintenanceRow } from '@bm/db';
import { CliError } from '../errors';

/** The longest reason kept: a line on the rack view and in `node list --long`. */
export const MAX_REASON = 255;

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** `--reason`: one line of text, at most MAX_REASON characters (it is shown in tables and on the timeline). */
export function reasonOption(value: string): string {
  const v = value.trim();
  if (!v) throw new InvalidArgumentError('must not be empty');
  if (v.length > MAX_REASON) throw new InvalidArgumentError(`must be at most ${MAX_REASON} characters`);
  if (CONTROL.test(v)) throw new InvalidArgumentError('must be one line without control characters');
  return v;
}

export interface MaintenancePorts {
  /** A live node by id or UUID (NodeNotFound otherwise). */
  resolve(ref: string): Promise<{ id: number }>;
  set(ids: readonly number[], on: boolean, reason: string | null): Promise<MaintenanceRow[]>;
}

/**
 * `bmctl node maintenance on|off NODE… [--reason TEXT]`: every node is looked up first, so a
 * misspelt one changes none of them; then all change in one statement. A node in maintenance is
 * skipped by the scheduler, refused by compute's claim and reported without resources; its
 * power and its instance, if any, are left alone.
 */
export class SetMaintenance {
  constructor(private readonly ports: MaintenancePorts) {}

  async run(refs: readonly string[], on: boolean, reason?: string): Promise<MaintenanceRow[]> {
    if (!on && reason !== undefined)
      throw new CliError('--reason goes with maintenance on (taking a node out clears it)', 'usage');
    const ids: number[] = [];
    for (const ref of refs) ids.push((await this.ports.resolve(ref)).id);
    return this.ports.set([...new Set(ids)], on, on ? (reason ?? null) : null);
  }
}
