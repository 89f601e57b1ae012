import Table from 'cli-table3';
import { printable } from '@bm/core';
import type { InterfaceView, NodeView } from '@bm/enrollment';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: live progress is redrawn in place there (default: plain lines). */
  errIsTty?: boolean;
}

// No colours, no rule between rows: readable in a terminal, a log file or a CI transcript.
const plain = {
  style: { head: [], border: [] },
  chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
};

/**
 * A cell's text: control characters in values (an enrolled `pm_user` with ANSI escapes, a detail
 * with a newline) are shown escaped, never sent to the terminal; a list is one value per line.
 */
function cell(v: unknown): string {
  if (Array.isArray(v)) return v.map(cell).join('\n');
  return v === null || v === undefined ? '' : printable(String(v));
}

/** A table of `rows` (a cell may be a list: one line each). */
export function table(head: string[], rows: unknown[][]): string {
  const t = new Table({ head, ...plain });
  for (const r of rows) t.push(r.map(cell));
  return t.toString();
}

/** The columns of `nova baremetal-node-list`, plus what our schema adds. */
export function nodesTable(nodes: NodeView[]): string {
  return table(
    [
      'ID',
      'UUID',
      'Host',
      'CPUs',
      'Memory_MB',
      'Disk_GB',
      'Arch',
      'MAC Address',
      'PM Address',
      'PM Username',
      'PM Password',
      'Terminal Port',
      'Instance',
      'State',
    ],
    nodes.map((n) => [
      n.id,
      n.uuid,
      n.service_host,
      n.cpus,
      n.memory_mb,
      n.local_gb,
      n.cpu_arch,
      n.interfaces.map((i) => i.address),
      n.pm_address,
      n.pm_user,
      n.pm_password,
      n.terminal_port,
      n.instance_uuid,
      n.task_state,
    ]),
  );
}

export function nodeTable(n: NodeView): string {
  const { interfaces, ...fields } = n;
  return table(['Property', 'Value'], [...Object.entries(fields), ['interfaces', interfaces.map((i) => i.address)]]);
}

/** The columns of `nova baremetal-interface-list`. */
export function interfacesTable(ifaces: InterfaceView[]): string {
  return table(
    ['ID', 'Datapath_ID', 'Port_No', 'Address'],
    ifaces.map((i) => [i.id, i.datapath_id, i.port_no, i.address]),
  );
}
