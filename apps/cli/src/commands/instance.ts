import type { Command } from 'commander';
import type { InstanceAction } from '@bm/contracts';
import { extraProperties } from '@bm/images';
import { systemClock } from '@bm/core';
import type { InstanceRow } from '@bm/db';
import { NotificationListener } from '@bm/messaging';
import { CliError } from '../errors';
import { table } from '../output';
import { type CliSession, positiveInteger, positiveNumber } from '../session';
import { BootInstance, type BootState } from '../use-cases/boot-instance';

/** What `--wait-for` may name. */
const WAIT_FOR: readonly BootState[] = ['building', 'prepared', 'active'];

interface BootOptions {
  name?: string;
  flavor: string;
  image: string;
  waitFor: string;
  timeout: number;
  count: number;
}

/**
 * `--image` (an id or a unique name) as Nova's API puts it in the request spec: the image's id,
 * name and properties. Its kernel_id and ramdisk_id must be there: the PXE boot needs them.
 */
async function imageMeta(s: CliSession, idOrName: string): Promise<Record<string, unknown>> {
  const image = await s.glance().find(idOrName);
  const properties = extraProperties(image);
  const missing = ['kernel_id', 'ramdisk_id'].filter((p) => typeof properties[p] !== 'string' || properties[p] === '');
  if (missing.length)
    throw new CliError(
      `image ${image.id} (${image.name ?? 'no name'}) has no ${missing.join(' or ')} property: ` +
        'set them to the ids of its kernel and ramdisk (bmctl image create … --property kernel_id=ID)',
      'invalid',
    );
  return { id: image.id, name: image.name, disk_format: image.disk_format, size: image.size, properties };
}

const ACTIONS: [verb: string, action: InstanceAction, help: string][] = [
  ['delete', 'terminateInstance', 'delete an instance: power off, PXE files removed, node released'],
  ['reboot', 'rebootInstance', 'reboot an instance (off, PXE, on)'],
  ['power-on', 'startInstance', 'power an instance on'],
  ['power-off', 'stopInstance', 'power an instance off'],
];

/**
 * `bmctl boot`, `bmctl instance …` and the instance actions: what `nova boot`,
 * `nova list/show/delete/reboot/start/stop` did against the baremetal driver, through the
 * scheduler and compute over the bus (libs/contracts clients).
 */
export function instanceCommands(program: Command, session: CliSession): void {
  program
    .command('boot')
    .description(
      'boot an instance: the scheduler picks a node for the flavor, compute deploys it; waits for --wait-for',
    )
    .argument('[name]', 'instance name (hostname); or --name')
    .option('--name <name>', 'instance name, as nova boot --name (instead of the argument)')
    .requiredOption('--flavor <name>', 'flavor name')
    .requiredOption(
      '--image <id-or-name>',
      'the image to deploy (bmctl image list); its kernel_id and ramdisk_id properties name its boot kernel and ramdisk',
    )
    .option(
      '--wait-for <state>',
      'return once the node reaches this task_state: building, prepared or active',
      'active',
    )
    .option('--timeout <seconds>', 'give up waiting after this long (exit 2)', positiveNumber, 600)
    .option(
      '--count <n>',
      'instances in one request (nova boot --min-count N --max-count N): a node each or NoValidHost for all; named NAME-1…NAME-N',
      positiveInteger,
      1,
    )
    .action(async (arg: string | undefined, o: BootOptions, cmd: Command) => {
      const s = session.for(cmd);
      if (arg && o.name && arg !== o.name) throw new CliError(`two names given: ${arg} and --name ${o.name}`, 'usage');
      const name = arg ?? o.name;
      if (!name) throw new CliError('an instance name is needed: bmctl boot NAME, or --name NAME', 'usage');
      if (!WAIT_FOR.includes(o.waitFor as BootState))
        throw new CliError('--wait-for must be building, prepared or active', 'usage');
      const db = await s.database();
      const conn = await s.broker();
      const boot = new BootInstance({
        flavors: db.flavors,
        nodes: db.nodes,
        scheduler: await s.scheduler(),
        clock: systemClock,
        progress: (line) => s.env.io.err(line),
        listen: async (pool, handler) => {
          const exchange = s.getConfig().default.control_exchange;
          const listener = new NotificationListener(conn, { exchange, pool, transient: true, handler });
          await listener.start();
          return listener;
        },
      });
      const rows = await boot.runAll({
        name,
        flavor: o.flavor,
        image: await imageMeta(s, o.image),
        waitFor: o.waitFor as BootState,
        timeoutS: o.timeout,
        count: o.count,
      });
      if (o.count === 1) {
        const v = instanceView(rows[0]);
        s.print(v, () => table(['Property', 'Value'], Object.entries(v)));
      } else {
        const list = rows.map(instanceView);
        s.print(list, () => instancesTable(list));
      }
    });

  const instance = program.command('instance').description('instances on the nodes (nova list/show)');
  instance
    .command('list')
    .description('list instances: the nodes carrying one')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const list = (await (await s.database()).nodes.instances()).map(instanceView);
      s.print(list, () => instancesTable(list));
    });
  instance
    .command('show')
    .description('one instance, by uuid or name')
    .argument('<instance>', 'instance uuid or name')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const i = instanceView(await (await s.database()).nodes.findInstance(ref));
      s.print(i, () => table(['Property', 'Value'], Object.entries(i)));
    });

  for (const [verb, action, help] of ACTIONS) {
    program
      .command(verb)
      .description(help)
      .argument('<instance>', 'instance uuid or name')
      .option('--timeout <seconds>', 'seconds to wait for compute', positiveNumber)
      .action(async (ref: string, o: { timeout?: number }, cmd: Command) => {
        const s = session.for(cmd);
        const row = await (await s.database()).nodes.findInstance(ref);
        const r = await (await s.compute(o.timeout)).instanceAction(row.service_host, action, row.instance_uuid);
        const name = row.instance_name ?? '';
        s.print(r, () => `${verb}: instance ${row.instance_uuid} (${name}) on node ${row.node_uuid}: done`);
      });
  }
}

function instancesTable(list: ReturnType<typeof instanceView>[]): string {
  return table(
    ['Instance', 'Name', 'State', 'Node', 'Host'],
    list.map((i) => [i.instance, i.name, i.task_state, i.node, i.host]),
  );
}

function instanceView(r: InstanceRow) {
  return {
    instance: r.instance_uuid,
    name: r.instance_name,
    task_state: r.task_state,
    node: r.node_uuid,
    node_id: r.node_id,
    host: r.service_host,
    vcpus: r.cpus,
    memory_mb: r.memory_mb,
    local_gb: r.local_gb,
  };
}
