import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import {
  type MaintenanceRow,
  type NodeEventRow,
  type PowerRecordRow,
  TIMELINE_DEFAULT_LIMIT,
  TIMELINE_MAX_LIMIT,
} from '@bm/db';
import { NetbootClient, PowerClient } from '@bm/contracts';
import { systemClock } from '@bm/core';
import type { BmTaskState } from '@bm/domain';
import type { ImportResult, NodeView } from '@bm/enrollment';
import { BOOT_DEVICES, type BootDevice } from '@bm/ipmi';
import { CliError } from '../errors';
import { type Column, nodesTable, table } from '../output';
import { type CliSession, collect, integer, positiveInteger, positiveNumber } from '../session';
import { NODE_LIST_COLUMNS, type NodeListOptions, listQuery, sortOption, stateOption } from '../use-cases/node-list';
import { SetMaintenance, reasonOption } from '../use-cases/node-maintenance';
import {
  NODE_POWER_ACTIONS,
  NodePower,
  type NodePowerAction,
  type NodePowerPorts,
  type NodePowerRow,
  setBootDevice,
  showBootDevice,
} from '../use-cases/node-power';
import { ValidateNode, type ValidateRow } from '../use-cases/node-validate';
import { DEPLOY_STATES, WatchNodes, summaryRows } from '../use-cases/watch-nodes';
import { flavorView } from '../use-cases/boot-instance';

/** A node as `node show`, `create`, `set` print it: its fields, its MACs, and what the power sync last saw. */
function nodeRecord(n: NodeView, power?: PowerRecordRow | null): Record<string, unknown> {
  const { interfaces, ...fields } = n;
  return {
    ...fields,
    macs: interfaces.map((i) => i.address),
    // `node show` reads the power sync's record; a node it never checked has none (null).
    ...(power !== undefined
      ? {
          power_state: power?.state ?? null,
          power_error: power?.error ?? null,
          power_checked_at: power?.checkedAt ?? null,
        }
      : {}),
  };
}

const POWER_COLUMNS: Column<NodePowerRow>[] = [
  { header: 'Node', value: (r) => r.node },
  { header: 'UUID', value: (r) => r.uuid },
  { header: 'Power State', value: (r) => r.power_state },
  { header: 'Error', value: (r) => r.error },
];

const MAINTENANCE_COLUMNS: Column<MaintenanceRow>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'UUID', value: (r) => r.uuid },
  { header: 'Maintenance', value: (r) => r.maintenance },
  { header: 'Reason', value: (r) => r.maintenance_reason },
  { header: 'Since', value: (r) => r.maintenance_at },
];

const VALIDATE_COLUMNS: Column<ValidateRow>[] = [
  { header: 'Check', value: (r) => r.check },
  { header: 'Result', value: (r) => r.result },
  { header: 'Reason', value: (r) => r.reason },
];

/** `--timeout`: seconds each call to a service waits (default: `[DEFAULT] rpc_response_timeout`). */
const timeoutOption = () =>
  new Option('--timeout <seconds>', 'seconds to wait for each node (default: rpc_response_timeout)').argParser(
    positiveNumber,
  );

/**
 * The ports of the power use cases: nodes from nova_bm, each to the power service of its compute
 * host (its `service_host`, else this host's), every call waiting `timeoutS`.
 */
async function powerPorts(s: CliSession, timeoutS?: number): Promise<NodePowerPorts> {
  const enrollment = await s.enrollment();
  const rpc = await s.rpc();
  const wait = timeoutS ?? s.getConfig().default.rpc_response_timeout;
  const clients = new Map<string, PowerClient>();
  return {
    resolve: async (ref) => {
      const n = await enrollment.getNode(ref);
      return { id: n.id, uuid: n.uuid ?? '', host: n.service_host ?? s.getConfig().default.host };
    },
    power: (host) => {
      let c = clients.get(host);
      if (!c) clients.set(host, (c = new PowerClient(rpc, host, wait)));
      return c;
    },
  };
}

/** A password file's content, its one trailing line break removed (as `node create` reads it). */
async function readPassword(s: CliSession, file: string): Promise<string> {
  return (await s.env.readText(file)).replace(/\r?\n$/, '');
}

interface SetOptions {
  pmPasswordFile?: string;
  pmUser?: string;
  pmAddress?: string;
  cpus?: number;
  memoryMb?: number;
  localGb?: number;
  cpuArch?: string;
  serviceHost?: string;
  terminalPort?: number;
}

/** `bmctl node …`: nova baremetal-node-create/list/show/delete, bulk import, and the operator's node management. */
export function nodeCommands(program: Command, session: CliSession): void {
  const node = program.command('node').description('enrolled bare-metal nodes (nova baremetal-node-*)');
  node
    .command('create')
    .description('enroll one node')
    .requiredOption('--mac <mac>', 'a MAC address of the node (repeat for several NICs)', collect)
    .requiredOption('--cpus <n>', 'number of CPUs', integer)
    .requiredOption('--memory-mb <n>', 'RAM in MiB', integer)
    .requiredOption('--local-gb <n>', 'disk in GiB', integer)
    .requiredOption('--pm-address <host[:port]>', 'BMC address (port 623 unless given)')
    .option('--pm-user <user>', 'BMC user')
    .option('--pm-password-file <file>', 'file holding the BMC password (- reads standard input); never a flag')
    .option('--cpu-arch <arch>', 'CPU architecture, e.g. x86_64')
    .option('--service-host <host>', 'compute host owning the node (default: [DEFAULT] host)')
    .option('--terminal-port <port>', 'serial console port', integer)
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const s = session.for(cmd);
      const password = o.pmPasswordFile ? await readPassword(s, String(o.pmPasswordFile)) : undefined;
      const input = {
        macs: o.mac,
        cpus: o.cpus,
        memory_mb: o.memoryMb,
        local_gb: o.localGb,
        pm_address: o.pmAddress,
        pm_user: o.pmUser,
        pm_password: password,
        cpu_arch: o.cpuArch,
        service_host: o.serviceHost,
        terminal_port: o.terminalPort,
      };
      const created = await (
        await s.enrollment()
      ).createNode(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
      s.printRecord(nodeRecord(created));
    });
  node
    .command('list')
    .description(
      'list enrolled nodes: task and power state, maintenance, the power sync’s last error (--long: everything)',
    )
    .option('--host <host>', 'only nodes of this compute host')
    .option('--state <state>', 'only nodes in this task_state (active, building, …; none: free)', stateOption)
    .option('--maintenance', 'only nodes in maintenance')
    .option('--no-maintenance', 'only nodes not in maintenance')
    .option('--associated', 'only nodes carrying an instance')
    .option('--unassociated', 'only nodes carrying no instance')
    .option(
      '--sort <key[:dir]>',
      'order by id, uuid, cpus, memory_mb, local_gb, task_state, power_state or updated_at; asc or desc',
      sortOption,
    )
    .option('--limit <n>', 'at most n nodes (the next page: --marker the last UUID shown)', positiveInteger)
    .option('--marker <uuid>', 'the nodes after this one, in the same order (paging)')
    .action(async (o: NodeListOptions, cmd: Command) => {
      const s = session.for(cmd);
      const rows = await (await s.database()).nodes.list(listQuery(o));
      s.printList(rows, NODE_LIST_COLUMNS);
    });
  node
    .command('show')
    .description('show one node')
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const n = await (await s.enrollment()).getNode(ref);
      const power = (await (await s.database()).powerRecords.load([n.id])).get(n.id);
      s.printRecord(nodeRecord(n, power ?? null));
    });
  node
    .command('delete')
    .description('delete a node (soft delete; its interfaces are removed)')
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const n = await (await s.enrollment()).deleteNode(ref);
      s.print(n, () => `deleted node ${n.id} (${n.uuid})`);
    });
  node
    .command('set')
    .description(
      'change a node: BMC password (rotated, stored encrypted), user, address; CPUs, memory, disk, arch, host (not while an instance is on it); console port',
    )
    .argument('<node>', 'node id or UUID')
    .option('--pm-password-file <file>', 'file holding the new BMC password (- reads standard input); never a flag')
    .option('--pm-user <user>', 'BMC user')
    .option('--pm-address <host[:port]>', 'BMC address (port 623 unless given)')
    .option('--cpus <n>', 'number of CPUs', integer)
    .option('--memory-mb <n>', 'RAM in MiB', integer)
    .option('--local-gb <n>', 'disk in GiB', integer)
    .option('--cpu-arch <arch>', 'CPU architecture, e.g. x86_64')
    .option('--service-host <host>', 'compute host owning the node')
    .option('--terminal-port <port>', 'serial console port', integer)
    .action(async (ref: string, o: SetOptions, cmd: Command) => {
      const s = session.for(cmd);
      const input = {
        pm_password: o.pmPasswordFile !== undefined ? await readPassword(s, o.pmPasswordFile) : undefined,
        pm_user: o.pmUser,
        pm_address: o.pmAddress,
        cpus: o.cpus,
        memory_mb: o.memoryMb,
        local_gb: o.localGb,
        cpu_arch: o.cpuArch,
        service_host: o.serviceHost,
        terminal_port: o.terminalPort,
      };
      const r = await (
        await s.enrollment()
      ).updateNode(ref, Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
      s.env.io.err(`node ${r.node.id}: ${r.changed.length ? r.changed.join(', ') : 'nothing changed'}`);
      s.printRecord(nodeRecord(r.node));
    });
  node
    .command('unset')
    .description("clear a node's optional fields")
    .argument('<node>', 'node id or UUID')
    .option('--cpu-arch', 'the CPU architecture (the host’s extra specs apply)')
    .option('--pm-user', 'the BMC user')
    .option('--pm-password', 'the stored BMC password')
    .option('--terminal-port', 'the serial console port')
    .action(async (ref: string, o: Record<string, boolean | undefined>, cmd: Command) => {
      const s = session.for(cmd);
      const fields = (
        [
          ['cpuArch', 'cpu_arch'],
          ['pmUser', 'pm_user'],
          ['pmPassword', 'pm_password'],
          ['terminalPort', 'terminal_port'],
        ] as const
      )
        .filter(([flag]) => o[flag])
        .map(([, field]) => field);
      if (!fields.length)
        throw new CliError('name what to unset: --cpu-arch, --pm-user, --pm-password or --terminal-port', 'usage');
      const r = await (await s.enrollment()).updateNode(ref, {}, fields);
      s.env.io.err(`node ${r.node.id}: ${r.changed.length ? r.changed.join(', ') : 'nothing changed'}`);
      s.printRecord(nodeRecord(r.node));
    });
  node
    .command('power')
    .description(
      "power nodes on, off, reboot them (off, boot device PXE, on) or read their state, through each node's power service with its stored credentials",
    )
    .addArgument(new Argument('<action>', 'what to do').choices(NODE_POWER_ACTIONS))
    .argument('<node...>', 'node ids or UUIDs')
    .addOption(timeoutOption())
    .action(async (action: NodePowerAction, refs: string[], o: { timeout?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const rows = await new NodePower(await powerPorts(s, o.timeout)).run(refs, action);
      s.printList(rows, POWER_COLUMNS);
      const failed = rows.filter((r) => r.error !== null).length;
      if (failed) throw new CliError(`power ${action}: ${failed} of ${rows.length} node(s) failed`, 'failed');
    });
  const bootDevice = node.command('boot-device').description("a node's boot device, through its power service");
  bootDevice
    .command('set')
    .description('set the device the node boots from next (or always, --persistent)')
    .argument('<node>', 'node id or UUID')
    .addOption(new Option('--device <device>', 'boot device').choices(Object.keys(BOOT_DEVICES)).makeOptionMandatory())
    .option('--persistent', 'for every boot, not only the next one')
    .option('--efi', 'boot in EFI mode')
    .addOption(timeoutOption())
    .action(
      async (
        ref: string,
        o: { device: BootDevice; persistent?: boolean; efi?: boolean; timeout?: number },
        cmd: Command,
      ) => {
        const s = session.for(cmd);
        const r = await setBootDevice(await powerPorts(s, o.timeout), ref, o.device, {
          persistent: o.persistent ?? false,
          efi: o.efi ?? false,
        });
        s.printRecord({ ...r });
      },
    );
  bootDevice
    .command('show')
    .description('the boot device the node’s BMC holds (valid false: none set, the BMC’s own order applies)')
    .argument('<node>', 'node id or UUID')
    .addOption(timeoutOption())
    .action(async (ref: string, o: { timeout?: number }, cmd: Command) => {
      const s = session.for(cmd);
      s.printRecord({ ...(await showBootDevice(await powerPorts(s, o.timeout), ref)) });
    });
  node
    .command('maintenance')
    .description(
      'take nodes out of service (on: the scheduler skips them, compute reports them unavailable) or back (off)',
    )
    .addArgument(new Argument('<mode>', 'on or off').choices(['on', 'off']))
    .argument('<node...>', 'node ids or UUIDs')
    .option('--reason <text>', 'why (with on): shown by node list --long and on the timeline', reasonOption)
    .action(async (mode: 'on' | 'off', refs: string[], o: { reason?: string }, cmd: Command) => {
      const s = session.for(cmd);
      const enrollment = await s.enrollment();
      const db = await s.database();
      const rows = await new SetMaintenance({
        resolve: (ref) => enrollment.getNode(ref),
        set: (ids, on, reason) => db.nodes.setMaintenance(ids, on, reason),
      }).run(refs, mode === 'on', o.reason);
      s.printList(rows, MAINTENANCE_COLUMNS);
    });
  node
    .command('validate')
    .description(
      'could the node be deployed now? fields, MACs, the BMC with its stored credentials, deploy images, PXE files: one line per check',
    )
    .argument('<node>', 'node id or UUID')
    .addOption(timeoutOption())
    .action(async (ref: string, o: { timeout?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const n = await (await s.enrollment()).getNode(ref);
      const db = await s.database();
      const rpc = await s.rpc();
      const wait = o.timeout ?? s.getConfig().default.rpc_response_timeout;
      const rows = await new ValidateNode({
        macClashes: (id) => db.nodes.macClashes(id),
        deploySources: async () => ({
          config: s.getConfig().baremetal,
          flavors: (await db.flavors.list()).map(flavorView),
        }),
        power: (host) => new PowerClient(rpc, host, wait),
        netboot: (host) => new NetbootClient(rpc, host, wait),
      }).run(n, s.getConfig().default.host);
      s.printList(rows, VALIDATE_COLUMNS);
      const failed = rows.filter((r) => r.result === 'fail').length;
      if (failed) throw new CliError(`node ${n.id}: ${failed} of ${rows.length} checks failed`, 'failed');
    });
  node
    .command('timeline')
    .description('what happened to a node (power, DHCP, TFTP, deploy, state), oldest first')
    .argument('<node>', 'node id or UUID')
    .option('--since <time>', 'only events at or after this ISO 8601 time (UTC unless it has an offset)', isoTime)
    .option(
      '--limit <n>',
      `the latest n events (default ${TIMELINE_DEFAULT_LIMIT}, at most ${TIMELINE_MAX_LIMIT})`,
      timelineLimit,
    )
    .action(async (ref: string, o: { since?: Date; limit?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const n = await (await s.enrollment()).getNode(ref);
      const events = await (await s.database()).nodeEvents.timeline(n.id, { since: o.since, limit: o.limit });
      s.print(events, () => timelineTable(n.id, events));
    });
  node
    .command('watch')
    .description("follow nodes through a deploy, live (state, phase, bytes, elapsed), then each state's time")
    .argument('<node...>', 'node ids or UUIDs')
    .addOption(
      new Option('--until <state>', 'stop once every node is in this task_state')
        .choices(['prepared', 'deploying', 'deploy complete', 'active', 'deleted'])
        .default('active'),
    )
    .option('--timeout <seconds>', 'give up after this long (exit 2)', positiveNumber, 600)
    .option(
      '--since <time>',
      'a deploy begun at or after this ISO 8601 time that fails ends the watch (default: a second ago)',
      isoTime,
    )
    .action(async (refs: string[], o: { until: BmTaskState; timeout: number; since?: Date }, cmd: Command) => {
      const s = session.for(cmd);
      const enrollment = await s.enrollment();
      const ids: number[] = [];
      for (const ref of refs) ids.push((await enrollment.getNode(ref)).id);
      const db = await s.database();
      const watch = new WatchNodes({
        state: (id) => db.nodes.read(id),
        timeline: (id) => db.nodeEvents.timeline(id, { limit: 500 }),
        clock: systemClock,
        tty: s.env.io.errIsTty === true,
        write: (text) => s.env.io.err(text.replace(/\n$/, '')),
      });
      const done = await watch.run(ids, { until: o.until, timeoutS: o.timeout, since: o.since });
      s.print(done, () => table(['Node', 'Instance', 'State', ...DEPLOY_STATES, 'Total'], summaryRows(done)));
    });
  node
    .command('import')
    .description('enroll every node of a baremetal.csv (or JSON) file, all or nothing')
    .argument('<file>', 'the file (- reads standard input)')
    .option('--dry-run', 'validate everything, write nothing')
    .addOption(
      new Option('--format <format>', 'file format (default: from the name or content)').choices(['csv', 'json']),
    )
    .option('--skip-enrolled', 'skip rows whose MAC is already enrolled instead of rejecting the file')
    .action(
      async (file: string, o: { dryRun?: boolean; format?: 'csv' | 'json'; skipEnrolled?: boolean }, cmd: Command) => {
        const s = session.for(cmd);
        const text = await s.env.readText(file);
        const r = await (
          await s.enrollment()
        ).importNodes(text, {
          source: file === '-' ? '(stdin)' : file,
          format: o.format,
          dryRun: o.dryRun,
          skipEnrolled: o.skipEnrolled,
        });
        s.print(r, () => importSummary(file, r));
      },
    );
}

function importSummary(file: string, r: ImportResult): string {
  const lines: string[] = [];
  if (r.nodes.length) lines.push(nodesTable(r.nodes));
  for (const s of r.skipped) lines.push(`skipped ${s.where}: ${s.mac} is already enrolled on node ${s.node}`);
  const n = r.nodes.length;
  lines.push(
    r.dryRun
      ? `${file} is valid: ${n} node${n === 1 ? '' : 's'} would be enrolled (dry run: nothing was written)`
      : `enrolled ${n} node${n === 1 ? '' : 's'} from ${file}${r.skipped.length ? `, skipped ${r.skipped.length}` : ''}`,
  );
  return lines.join('\n');
}

/** `--since`: an ISO 8601 date or time; one without an offset is UTC, as the timeline prints. */
function isoTime(value: string): Date {
  const v = value.trim().replace(/^(\d{4}-\d\d-\d\d)[ T]/, '$1T');
  const d = new Date(v.includes('T') && !/(Z|[+-]\d\d(:?\d\d)?)$/i.test(v) ? `${v}Z` : v);
  if (!/^\d{4}-\d\d-\d\d/.test(v) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2024-03-04T05:06:07Z');
  return d;
}

function timelineLimit(value: string): number {
  const n = integer(value);
  if (n < 1 || n > TIMELINE_MAX_LIMIT) throw new InvalidArgumentError(`must be from 1 to ${TIMELINE_MAX_LIMIT}`);
  return n;
}

/** The timeline as a table: UTC times, duration in ms, bytes as counted. */
function timelineTable(nodeId: number, events: NodeEventRow[]): string {
  if (!events.length) return `no events recorded for node ${nodeId}`;
  return table(
    ['Time (UTC)', 'Source', 'Kind', 'Detail', 'Duration', 'Bytes'],
    events.map((e) => [
      e.at.toISOString(),
      e.source,
      e.kind,
      e.detail,
      e.durationMs === null ? null : `${e.durationMs} ms`,
      e.bytes,
    ]),
  );
}
