import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BootImages, InstanceAction } from '@bm/contracts';
import { systemClock } from '@bm/core';
import type { InstanceRow } from '@bm/db';
import { NotificationListener } from '@bm/messaging';
import { CliError } from '../errors';
import { table } from '../output';
import { type CliSession, positiveNumber } from '../session';
import { BootInstance, type BootState } from '../use-cases/boot-instance';

/** What `--wait-for` may name. */
const WAIT_FOR: readonly BootState[] = ['building', 'prepared', 'active'];

/** A directory holding a kernel and an initramfs: vmlinuz + initrd.gz (Debian) or kernel + ramdisk. */
function imagePair(dir: string): { kernel: string; ramdisk: string } {
  const d = resolve(dir);
  for (const [k, r] of [
    ['vmlinuz', 'initrd.gz'],
    ['kernel', 'ramdisk'],
  ]) {
    if (existsSync(join(d, k)) && existsSync(join(d, r))) return { kernel: join(d, k), ramdisk: join(d, r) };
  }
  throw new CliError(`${dir}: no vmlinuz + initrd.gz (or kernel + ramdisk) in it`, 'failed');
}

interface BootOptions {
  name?: string;
  flavor: string;
  image: string;
  deployImage?: string;
  waitFor: string;
  timeout: number;
}

/** The instance and deploy images of a boot: --image, and --deploy-image or the configured deploy pair. */
function bootImages(s: CliSession, o: BootOptions): BootImages {
  const img = imagePair(o.image);
  const b = s.getConfig().baremetal;
  const deploy = o.deployImage
    ? imagePair(o.deployImage)
    : b.deploy_kernel.startsWith('/') && b.deploy_ramdisk.startsWith('/')
      ? { kernel: b.deploy_kernel, ramdisk: b.deploy_ramdisk }
      : img;
  return { kernel: img.kernel, ramdisk: img.ramdisk, deploy_kernel: deploy.kernel, deploy_ramdisk: deploy.ramdisk };
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
      '--image <dir>',
      'directory with the instance kernel and initramfs (vmlinuz + initrd.gz, or kernel + ramdisk)',
    )
    .option(
      '--deploy-image <dir>',
      'directory with the deploy kernel and ramdisk (default: [baremetal] deploy_kernel/deploy_ramdisk, else --image)',
    )
    .option(
      '--wait-for <state>',
      'return once the node reaches this task_state: building, prepared or active',
      'active',
    )
    .option('--timeout <seconds>', 'give up waiting after this long (exit 2)', positiveNumber, 600)
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
      const row = await boot.run({
        name,
        flavor: o.flavor,
        images: bootImages(s, o),
        waitFor: o.waitFor as BootState,
        timeoutS: o.timeout,
      });
      const v = instanceView(row);
      s.print(v, () => table(['Property', 'Value'], Object.entries(v)));
    });

  const instance = program.command('instance').description('instances on the nodes (nova list/show)');
  instance
    .command('list')
    .description('list instances: the nodes carrying one')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const list = (await (await s.database()).nodes.instances()).map(instanceView);
      s.print(list, () =>
        table(
          ['Instance', 'Name', 'State', 'Node', 'Host'],
          list.map((i) => [i.instance, i.name, i.task_state, i.node, i.host]),
        ),
      );
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
