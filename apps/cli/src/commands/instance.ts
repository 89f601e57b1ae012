import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { Flavor } from '@bm/db';
import { Conflict, InstanceNotFound, NovaBmError } from '@bm/domain';
import { NotificationListener, RpcClient } from '@bm/messaging';
import { table } from '../output';
import { CliError, Exit } from '../errors';
import { type CliSession, integer, positiveNumber } from '../session';

class FlavorNotFound extends NovaBmError {
  readonly name = 'FlavorNotFound';
  readonly kind = 'not_found';
  constructor(ref: string) {
    super(`Flavor ${ref} could not be found.`);
  }
}

interface InstanceRow {
  instance_uuid: string;
  instance_name: string | null;
  task_state: string | null;
  node_id: number;
  node_uuid: string;
  service_host: string;
  cpus: number;
  memory_mb: number;
  local_gb: number;
  updated_at: Date | null;
}

const INSTANCE_SQL = `SELECT instance_uuid, instance_name, task_state, id AS node_id, uuid AS node_uuid, service_host, cpus, memory_mb, local_gb, updated_at
  FROM bm_nodes WHERE deleted = false AND instance_uuid IS NOT NULL`;

function extraSpec(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('must be KEY=VALUE');
  return { ...previous, [v.slice(0, i)]: v.slice(i + 1) };
}

/** A directory holding a kernel and an initramfs: vmlinuz + initrd.gz (Debian) or kernel + ramdisk. */
function imagePair(dir: string): { kernel: string; ramdisk: string } {
  const d = resolve(dir);
  for (const [k, r] of [
    ['vmlinuz', 'initrd.gz'],
    ['kernel', 'ramdisk'],
  ]) {
    if (existsSync(join(d, k)) && existsSync(join(d, r))) return { kernel: join(d, k), ramdisk: join(d, r) };
  }
  throw new CliError(`${dir}: no vmlinuz + initrd.gz (or kernel + ramdisk) in it`, Exit.FAILED);
}

/**
 * `bmctl flavor …`, `bmctl boot`, `bmctl instance …` and the instance actions: what
 * `nova flavor-*`, `nova boot`, `nova list/show/delete/reboot/start/stop` did against the
 * baremetal driver, through the scheduler and compute over the bus.
 */
export function instanceCommands(program: Command, session: CliSession): void {
  const flavor = program.command('flavor').description('flavors (nova flavor-*)');
  flavor
    .command('create')
    .description('record a flavor; extra specs such as cpu_arch=x86_64 are matched against the nodes')
    .argument('<name>', 'flavor name')
    .requiredOption('--vcpus <n>', 'vCPUs', integer)
    .requiredOption('--ram <mb>', 'memory, MB', integer)
    .requiredOption('--disk <gb>', 'root disk, GB', integer)
    .option('--ephemeral <gb>', 'ephemeral disk, GB', integer, 0)
    .option('--swap <mb>', 'swap, MB', integer, 0)
    .option('--extra-spec <key=value>', 'an extra spec (repeatable)', extraSpec, {})
    .action(
      async (
        name: string,
        o: {
          vcpus: number;
          ram: number;
          disk: number;
          ephemeral: number;
          swap: number;
          extraSpec: Record<string, string>;
        },
        cmd: Command,
      ) => {
        const s = session.for(cmd);
        const repo = (await s.dataSource()).getRepository(Flavor);
        if (await repo.findOneBy({ name, deleted: false }))
          throw new Conflict(`Flavor ${name} already exists`, 'FlavorExists');
        const f = await repo.save(
          repo.create({
            name,
            vcpus: o.vcpus,
            memory_mb: o.ram,
            root_gb: o.disk,
            ephemeral_gb: o.ephemeral,
            swap: o.swap,
            extra_specs: JSON.stringify(o.extraSpec),
            created_at: new Date(),
            deleted: false,
          }),
        );
        s.print(flavorView(f), () => `created flavor ${f.name} (id ${f.id})`);
      },
    );
  flavor
    .command('list')
    .description('list flavors')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const list = (
        await (await s.dataSource()).getRepository(Flavor).find({ where: { deleted: false }, order: { id: 'ASC' } })
      ).map(flavorView);
      s.print(list, () =>
        table(
          ['ID', 'Name', 'vCPUs', 'Memory_MB', 'Disk', 'Ephemeral', 'Swap', 'Extra specs'],
          list.map((f) => [
            f.id,
            f.name,
            f.vcpus,
            f.memory_mb,
            f.root_gb,
            f.ephemeral_gb,
            f.swap,
            Object.entries(f.extra_specs)
              .map(([k, v]) => `${k}=${v}`)
              .join(', '),
          ]),
        ),
      );
    });

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
    .action(
      async (
        arg: string | undefined,
        o: { name?: string; flavor: string; image: string; deployImage?: string; waitFor: string; timeout: number },
        cmd: Command,
      ) => {
        const s = session.for(cmd);
        if (arg && o.name && arg !== o.name)
          throw new CliError(`two names given: ${arg} and --name ${o.name}`, Exit.USAGE);
        const name = arg ?? o.name;
        if (!name) throw new CliError('an instance name is needed: bmctl boot NAME, or --name NAME', Exit.USAGE);
        if (!['building', 'prepared', 'active'].includes(o.waitFor))
          throw new CliError('--wait-for must be building, prepared or active', Exit.USAGE);
        const ds = await s.dataSource();
        const f = await ds.getRepository(Flavor).findOneBy({ name: o.flavor, deleted: false });
        if (!f) throw new FlavorNotFound(o.flavor);
        const img = imagePair(o.image);
        const b = s.getConfig().baremetal;
        const deploy = o.deployImage
          ? imagePair(o.deployImage)
          : b.deploy_kernel.startsWith('/') && b.deploy_ramdisk.startsWith('/')
            ? { kernel: b.deploy_kernel, ramdisk: b.deploy_ramdisk }
            : img;
        const image = {
          kernel: img.kernel,
          ramdisk: img.ramdisk,
          deploy_kernel: deploy.kernel,
          deploy_ramdisk: deploy.ramdisk,
        };
        const uuid = randomUUID();
        const exchange = s.getConfig().default.control_exchange;
        const conn = await s.broker();
        // Failures arrive as notifications (the boot is a cast, as Nova's): listen before sending.
        let failure: string | undefined;
        const listener = new NotificationListener(conn, {
          exchange,
          pool: `bmctl-boot-${uuid}`,
          transient: true,
          handler: (n) => {
            const p = n.payload as { instance_id?: string; reason?: string; message?: string; exception?: string };
            if (p?.instance_id !== uuid) return;
            if (n.eventType === 'scheduler.run_instance' && n.priority === 'ERROR')
              failure = `${p.exception ?? 'Error'}: ${p.reason ?? ''}`;
          },
        });
        await listener.start();
        try {
          await new RpcClient(conn, { exchange }).cast(
            { topic: 'scheduler' },
            'run_instance',
            {
              request_spec: {
                instance_properties: {
                  uuid,
                  hostname: name,
                  display_name: name,
                  memory_mb: f.memory_mb,
                  vcpus: f.vcpus,
                  root_gb: f.root_gb,
                },
                instance_type: flavorView(f),
                image,
                instance_uuids: [uuid],
                num_instances: 1,
              },
              filter_properties: {},
            },
            { version: '4.0' },
          );
          s.env.io.err(`instance ${uuid} (${name}): requested`);
          const order = ['building', 'prepared', 'deploying', 'deploy complete', 'active'];
          const want = order.indexOf(o.waitFor);
          const until = Date.now() + o.timeout * 1000;
          let last = '';
          for (;;) {
            if (failure) throw new CliError(`instance ${uuid} (${name}): ${failure}`, Exit.FAILED);
            const [row]: InstanceRow[] = await ds.query(`${INSTANCE_SQL} AND instance_uuid = $1`, [uuid]);
            const state = row?.task_state ?? '';
            if (row && state !== last) {
              s.env.io.err(`instance ${uuid} (${name}): node ${row.node_uuid} on ${row.service_host}: ${state}`);
              last = state;
            }
            if (row && order.indexOf(state) >= want) {
              s.print(instanceView(row), () => table(['Property', 'Value'], Object.entries(instanceView(row))));
              return;
            }
            if (Date.now() > until)
              throw new CliError(
                `instance ${uuid} (${name}): not ${o.waitFor} after ${o.timeout} s (now ${last || 'unscheduled'})`,
                Exit.TIMEOUT,
              );
            await new Promise((r) => setTimeout(r, 250));
          }
        } finally {
          await listener.stop();
        }
      },
    );

  const instance = program.command('instance').description('instances on the nodes (nova list/show)');
  instance
    .command('list')
    .description('list instances: the nodes carrying one')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const rows: InstanceRow[] = await (await s.dataSource()).query(`${INSTANCE_SQL} ORDER BY id`);
      const list = rows.map(instanceView);
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
      const i = instanceView(await findInstance(s, ref));
      s.print(i, () => table(['Property', 'Value'], Object.entries(i)));
    });

  const actions: [string, string, string][] = [
    ['delete', 'terminate_instance', 'delete an instance: power off, PXE files removed, node released'],
    ['reboot', 'reboot_instance', 'reboot an instance (off, PXE, on)'],
    ['power-on', 'start_instance', 'power an instance on'],
    ['power-off', 'stop_instance', 'power an instance off'],
  ];
  for (const [verb, method, help] of actions) {
    program
      .command(verb)
      .description(help)
      .argument('<instance>', 'instance uuid or name')
      .option('--timeout <seconds>', 'seconds to wait for compute', positiveNumber)
      .action(async (ref: string, o: { timeout?: number }, cmd: Command) => {
        const s = session.for(cmd);
        const row = await findInstance(s, ref);
        const c = s.getConfig().default;
        const r = await new RpcClient(await s.broker(), { exchange: c.control_exchange }).call<Record<string, unknown>>(
          { topic: 'compute', server: row.service_host },
          method,
          { instance: { uuid: row.instance_uuid } },
          { version: '6.0', timeout: o.timeout ?? c.rpc_response_timeout },
        );
        s.print(
          r,
          () => `${verb}: instance ${row.instance_uuid} (${row.instance_name ?? ''}) on node ${row.node_uuid}: done`,
        );
      });
  }
}

async function findInstance(s: CliSession, ref: string): Promise<InstanceRow> {
  const rows: InstanceRow[] = await (
    await s.dataSource()
  ).query(`${INSTANCE_SQL} AND (instance_uuid = $1 OR instance_name = $1)`, [ref]);
  if (rows.length === 0) throw new InstanceNotFound(ref);
  if (rows.length > 1)
    throw new Conflict(`${rows.length} instances are named ${ref}: use the uuid`, 'AmbiguousInstance');
  return rows[0];
}

function flavorView(f: Flavor) {
  return {
    id: f.id,
    name: f.name,
    vcpus: f.vcpus,
    memory_mb: f.memory_mb,
    root_gb: f.root_gb,
    ephemeral_gb: f.ephemeral_gb,
    swap: f.swap,
    extra_specs: JSON.parse(f.extra_specs) as Record<string, string>,
  };
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
