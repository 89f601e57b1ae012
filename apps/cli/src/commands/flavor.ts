import { type Command, InvalidArgumentError } from 'commander';
import { table } from '../output';
import { type CliSession, integer } from '../session';
import { flavorView } from '../use-cases/boot-instance';

function extraSpec(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('must be KEY=VALUE');
  return { ...previous, [v.slice(0, i)]: v.slice(i + 1) };
}

interface FlavorOptions {
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extraSpec: Record<string, string>;
}

/** `bmctl flavor …`: nova flavor-create / flavor-list. */
export function flavorCommands(program: Command, session: CliSession): void {
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
    .action(async (name: string, o: FlavorOptions, cmd: Command) => {
      const s = session.for(cmd);
      const f = await (
        await s.database()
      ).flavors.create({
        name,
        vcpus: o.vcpus,
        memory_mb: o.ram,
        root_gb: o.disk,
        ephemeral_gb: o.ephemeral,
        swap: o.swap,
        extra_specs: o.extraSpec,
      });
      s.print(flavorView(f), () => `created flavor ${f.name} (id ${f.id})`);
    });
  flavor
    .command('list')
    .description('list flavors')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const list = (await (await s.database()).flavors.list()).map(flavorView);
      const specs = (f: (typeof list)[number]) =>
        Object.entries(f.extra_specs)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
      s.print(list, () =>
        table(
          ['ID', 'Name', 'vCPUs', 'Memory_MB', 'Disk', 'Ephemeral', 'Swap', 'Extra specs'],
          list.map((f) => [f.id, f.name, f.vcpus, f.memory_mb, f.root_gb, f.ephemeral_gb, f.swap, specs(f)]),
        ),
      );
    });
}
