import type { Command } from 'commander';
import { COMPUTE, type InstanceAction, adminContext } from '@bm/contracts';
import { extraProperties } from '@bm/images';
import { systemClock } from '@bm/core';
import type { InstanceRow } from '@bm/db';
import { NotificationListener } from '@bm/messaging';
import { CliError } from '../errors';
import type { Column } from '../output';
import { Progress } from '../progress';
import { type CliSession, positiveInteger, positiveNumber } from '../session';
import { BootInstance, type BootState, flavorView } from '../use-cases/boot-instance';
import { RebuildInstance } from '../use-cases/rebuild-instance';

/** What `--wait-for` may name. */
const WAIT_FOR: readonly BootState[] = ['building', 'prepared', 'active'];

interface BootOptions {
  name?: string;
  flavor: string;
  image: string;
  waitFor: string;
  timeout: number;
  count: number;
  /** --wait (the default) / --no-wait. */
  wait: boolean;
}

/** `--wait` / `--no-wait`, as openstack server create|delete|rebuild: here waiting is the default. */
function waitOptions(c: Command, what: string): Command {
  return c
    .option('--wait', `wait until ${what} (the default)`)
    .option('--no-wait', 'return once the request is sent, printing the ids');
}

/** Seconds an RPC call to compute may go without a heartbeat while it works (oslo's call monitor). */
const CALL_MONITOR_S = 60;

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
  waitOptions(
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
      ),
    'every instance reached --wait-for',
  ).action(async (arg: string | undefined, o: BootOptions, cmd: Command) => {
    const s = session.for(cmd);
    if (arg && o.name && arg !== o.name) throw new CliError(`two names given: ${arg} and --name ${o.name}`, 'usage');
    const name = arg ?? o.name;
    if (!name) throw new CliError('an instance name is needed: bmctl boot NAME, or --name NAME', 'usage');
    if (!WAIT_FOR.includes(o.waitFor as BootState))
      throw new CliError('--wait-for must be building, prepared or active', 'usage');
    if (o.wait === false && cmd.getOptionValueSource('waitFor') === 'cli')
      throw new CliError('--no-wait and --wait-for: choose one', 'usage');
    const db = await s.database();
    const conn = await s.broker();
    const progress = new Progress(s.env.io, systemClock);
    const boot = new BootInstance({
      flavors: db.flavors,
      nodes: db.nodes,
      scheduler: await s.scheduler(),
      clock: systemClock,
      progress: (line) => progress.update(line),
      listen: async (pool, handler) => {
        const exchange = s.getConfig().default.control_exchange;
        const listener = new NotificationListener(conn, { exchange, pool, transient: true, handler });
        await listener.start();
        return listener;
      },
    });
    const request = { name, flavor: o.flavor, image: await imageMeta(s, o.image), count: o.count };
    if (o.wait === false) {
      const sent = await boot.request(request);
      if (o.count === 1) s.printRecord(sent[0]);
      else s.printList(sent, REQUESTED_COLUMNS);
      return;
    }
    const rows = await progress.during(
      boot.runAll({ ...request, waitFor: o.waitFor as BootState, timeoutS: o.timeout }),
    );
    if (o.count === 1) s.printRecord(instanceView(rows[0]));
    else s.printList(rows, INSTANCE_COLUMNS);
  });

  waitOptions(
    program
      .command('rebuild')
      .description("deploy an instance's image again on its own node (nova rebuild), or another image")
      .argument('<instance>', 'instance uuid or name')
      .option('--image <id-or-name>', 'the image to deploy (default: the one the node has now)')
      .option('--preserve-ephemeral', 'keep the ephemeral partition')
      .option(
        '--flavor <name>',
        "the instance's flavor, when its extra specs name the deploy kernel and ramdisk (baremetal:deploy_*_id)",
      )
      .option('--timeout <seconds>', 'give up waiting after this long (exit 2)', positiveNumber, 600),
    'the node is active again',
  ).action(
    async (
      ref: string,
      o: { image?: string; preserveEphemeral?: boolean; flavor?: string; timeout: number; wait: boolean },
      cmd: Command,
    ) => {
      const s = session.for(cmd);
      const db = await s.database();
      const rpc = await s.rpc();
      const progress = new Progress(s.env.io, systemClock);
      const rebuild = new RebuildInstance({
        findInstance: (r) => db.nodes.findInstance(r),
        readInstance: async (uuid) => (await db.nodes.instances({ instanceUuid: uuid }))[0],
        currentImage: async (id) => (await db.nodes.deployTarget(id))?.image_path ?? null,
        rebuild: (host, args, w) => {
          const target = { topic: COMPUTE.topic, server: host };
          const method = COMPUTE.methods.rebuildInstance;
          const opts = { version: COMPUTE.version, context: adminContext() };
          return w.wait
            ? rpc.call(
                target,
                method,
                { ...args },
                { ...opts, timeout: w.timeoutS, callMonitorTimeout: CALL_MONITOR_S },
              )
            : rpc.cast(target, method, { ...args }, opts);
        },
        clock: systemClock,
        progress: (line) => progress.update(line),
      });
      const row = await progress.during(
        rebuild.run({
          instance: ref,
          image: o.image === undefined ? undefined : await imageMeta(s, o.image),
          flavor: o.flavor === undefined ? undefined : flavorView(await db.flavors.find(o.flavor)),
          preserveEphemeral: o.preserveEphemeral === true,
          wait: o.wait !== false,
          timeoutS: o.timeout,
        }),
      );
      s.printRecord(instanceView(row));
    },
  );

  const instance = program.command('instance').description('instances on the nodes (nova list/show)');
  instance
    .command('list')
    .description('list instances: the nodes carrying one')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printList(await (await s.database()).nodes.instances(), INSTANCE_COLUMNS);
    });
  instance
    .command('show')
    .description('one instance, by uuid or name')
    .argument('<instance>', 'instance uuid or name')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printRecord(instanceView(await (await s.database()).nodes.findInstance(ref)));
    });

  for (const [verb, action, help] of ACTIONS) {
    waitOptions(
      program
        .command(verb)
        .description(help)
        .argument('<instance>', 'instance uuid or name')
        .option('--timeout <seconds>', 'seconds to wait for compute', positiveNumber),
      'compute has done it',
    ).action(async (ref: string, o: { timeout?: number; wait: boolean }, cmd: Command) => {
      const s = session.for(cmd);
      const row = await (await s.database()).nodes.findInstance(ref);
      const what = `${verb}: instance ${row.instance_uuid} (${row.instance_name ?? ''}) on node ${row.node_uuid}`;
      if (o.wait === false) {
        const target = { topic: COMPUTE.topic, server: row.service_host };
        await (
          await s.rpc()
        ).cast(
          target,
          COMPUTE.methods[action],
          { instance: { uuid: row.instance_uuid } },
          {
            version: COMPUTE.version,
            context: adminContext(),
          },
        );
        s.print({ instance: row.instance_uuid, requested: verb }, () => `${what}: requested`);
        return;
      }
      const progress = new Progress(s.env.io, systemClock);
      progress.update(`${what}: requested`);
      const r = await progress.during(
        (await s.compute(o.timeout)).instanceAction(row.service_host, action, row.instance_uuid),
      );
      progress.update(`${what}: done`);
      s.print(r, () => `${what}: done`);
    });
  }
}

/** What `boot --no-wait` prints of each instance it requested. */
const REQUESTED_COLUMNS: Column<{ instance: string; name: string }>[] = [
  { header: 'Instance', value: (i) => i.instance },
  { header: 'Name', value: (i) => i.name },
];

/** The columns of `instance list` (nova list). */
const INSTANCE_COLUMNS: Column<InstanceRow>[] = [
  { header: 'Instance', value: (i) => i.instance_uuid },
  { header: 'Name', value: (i) => i.instance_name },
  { header: 'State', value: (i) => i.task_state },
  { header: 'Node', value: (i) => i.node_uuid },
  { header: 'Host', value: (i) => i.service_host },
  { header: 'Node ID', value: (i) => i.node_id, long: true },
  { header: 'VCPUs', value: (i) => i.cpus, long: true },
  { header: 'Memory_MB', value: (i) => i.memory_mb, long: true },
  { header: 'Disk_GB', value: (i) => i.local_gb, long: true },
  { header: 'Updated', value: (i) => i.updated_at, long: true },
];

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
