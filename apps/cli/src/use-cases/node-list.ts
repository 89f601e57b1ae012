import { InvalidArgumentError } from 'commander';
import { NODE_SORT_KEYS, type NodeListQuery, type NodeListRow, type NodeSortKey } from '@bm/db';
import { BM_TASK_STATES, type BmTaskState } from '@bm/domain';
import { PASSWORD_MASK } from '@bm/enrollment';
import { CliError } from '../errors';
import type { Column } from '../output';

/** What `--state` takes: a task_state, or `none` (no instance's state: never used, or released). */
export const LIST_STATES: readonly string[] = [
  'none',
  ...BM_TASK_STATES.filter((s): s is Exclude<BmTaskState, null> => s !== null),
];

/** `--sort KEY[:asc|desc]`, as OpenStack's CLI spells it. */
export function sortOption(value: string): NonNullable<NodeListQuery['sort']> {
  const [key, dir = 'asc', ...rest] = value.split(':');
  if (!(NODE_SORT_KEYS as readonly string[]).includes(key) || rest.length || (dir !== 'asc' && dir !== 'desc'))
    throw new InvalidArgumentError(`must be KEY[:asc|desc], KEY one of ${NODE_SORT_KEYS.join(', ')}`);
  return { key: key as NodeSortKey, dir };
}

/** `--state`: a task_state or `none`. */
export function stateOption(value: string): string {
  if (!LIST_STATES.includes(value)) throw new InvalidArgumentError(`must be one of ${LIST_STATES.join(', ')}`);
  return value;
}

/** The command line's options as commander gives them. */
export interface NodeListOptions {
  host?: string;
  state?: string;
  maintenance?: boolean;
  associated?: boolean;
  unassociated?: boolean;
  sort?: NodeListQuery['sort'];
  limit?: number;
  marker?: string;
}

/** The repository's query for the options (`--associated` and `--unassociated` exclude each other). */
export function listQuery(o: NodeListOptions): NodeListQuery {
  if (o.associated && o.unassociated) throw new CliError('--associated and --unassociated exclude each other', 'usage');
  return {
    host: o.host,
    state: o.state,
    maintenance: o.maintenance,
    associated: o.associated ? true : o.unassociated ? false : undefined,
    sort: o.sort,
    limit: o.limit,
    marker: o.marker,
  };
}

/**
 * The columns of `bmctl node list`: what an operator watches (state, power, maintenance, the
 * power sync's last error) by default, the rest with `--long` (or `-c`).
 */
export const NODE_LIST_COLUMNS: Column<NodeListRow>[] = [
  { header: 'ID', value: (n) => n.id },
  { header: 'UUID', value: (n) => n.uuid },
  { header: 'Host', value: (n) => n.service_host },
  { header: 'Instance UUID', value: (n) => n.instance_uuid },
  { header: 'Task State', value: (n) => n.task_state },
  { header: 'Power State', value: (n) => n.power_state },
  { header: 'Maintenance', value: (n) => n.maintenance },
  { header: 'Last Error', value: (n) => n.power_error },
  { header: 'CPUs', value: (n) => n.cpus, long: true },
  { header: 'Memory MB', value: (n) => n.memory_mb, long: true },
  { header: 'Disk GB', value: (n) => n.local_gb, long: true },
  { header: 'CPU Arch', value: (n) => n.cpu_arch, long: true },
  { header: 'MAC Addresses', value: (n) => n.macs, long: true },
  { header: 'PM Address', value: (n) => n.pm_address, long: true },
  { header: 'PM User', value: (n) => n.pm_user, long: true },
  { header: 'PM Password', value: (n) => (n.pm_password_set ? PASSWORD_MASK : null), long: true },
  { header: 'Terminal Port', value: (n) => n.terminal_port, long: true },
  { header: 'Instance Name', value: (n) => n.instance_name, long: true },
  { header: 'Maintenance Reason', value: (n) => n.maintenance_reason, long: true },
  { header: 'Maintenance Since', value: (n) => n.maintenance_at, long: true },
  { header: 'Power Checked', value: (n) => n.power_checked_at, long: true },
  { header: 'Created', value: (n) => n.created_at, long: true },
  { header: 'Updated', value: (n) => n.updated_at, long: true },
];
