import { type Command, InvalidArgumentError, Option } from 'commander';
import { type NodeEventRow, TIMELINE_DEFAULT_LIMIT, TIMELINE_MAX_LIMIT } from '@bm/db';
import { systemClock } from '@bm/core';
import type { BmTaskState } from '@bm/domain';
import type { ImportResult } from '@bm/enrollment';
import { nodeTable, nodesTable, table } from '../output';
import { type CliSession, collect, integer, positiveNumber } from '../session';
import { DEPLOY_STATES, WatchNodes, summaryRows } from '../use-cases/watch-nodes';

/** `bmctl node …`: nova baremetal-node-create/list/show/delete, plus bulk import. */
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
      const password = o.pmPasswordFile
        ? (await s.env.readText(String(o.pmPasswordFile))).replace(/\r?\n$/, '')
        : undefined;
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
      s.print(created, () => nodeTable(created));
    });
  node
    .command('list')
    .description('list enrolled nodes')
    .option('--host <host>', 'only nodes of this compute host')
    .action(async (o: { host?: string }, cmd: Command) => {
      const s = session.for(cmd);
      const nodes = await (await s.enrollment()).listNodes({ serviceHost: o.host });
      s.print(nodes, () => nodesTable(nodes));
    });
  node
    .command('show')
    .description('show one node')
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const n = await (await s.enrollment()).getNode(ref);
      s.print(n, () => nodeTable(n));
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
