import type { Command } from 'commander';
import type { Flavor } from '@bm/db';
import { CliError } from '../errors';
import type { Column } from '../output';
import { type CliSession, collect, integer } from '../session';
import { flavorView } from '../use-cases/boot-instance';
import { parseProperty, setProperties, unsetProperties } from '../use-cases/flavor-properties';

interface FlavorOptions {
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extraSpec: string[];
  property: string[];
}

/** KEY=VALUE options as an object (the last one of a key wins). */
const properties = (list: readonly string[]): Record<string, string> => Object.fromEntries(list.map(parseProperty));

/** A flavor as `flavor show` (and create, set, unset) prints it. */
function flavorRecord(f: Flavor): Record<string, unknown> {
  return { ...flavorView(f), created_at: f.created_at, updated_at: f.updated_at };
}

/** The columns of `flavor list` (nova flavor-list; openstack flavor list's names). */
const FLAVOR_COLUMNS: Column<Flavor>[] = [
  { header: 'ID', value: (f) => f.id },
  { header: 'Name', value: (f) => f.name },
  { header: 'VCPUs', value: (f) => f.vcpus },
  { header: 'RAM', value: (f) => f.memory_mb },
  { header: 'Disk', value: (f) => f.root_gb },
  { header: 'Ephemeral', value: (f) => f.ephemeral_gb },
  { header: 'Swap', value: (f) => f.swap },
  // What the scheduler matches against the nodes (cpu_arch) and the deploy pair: always shown.
  { header: 'Properties', value: (f) => flavorView(f).extra_specs },
  { header: 'Created', value: (f) => f.created_at, long: true },
  { header: 'Updated', value: (f) => f.updated_at, long: true },
];

/** `bmctl flavor …`: nova flavor-create/-list/-show/-delete/-key, as openstack flavor * names them. */
export function flavorCommands(program: Command, session: CliSession): void {
  const flavor = program.command('flavor').description('flavors (nova flavor-*, openstack flavor *)');
  flavor
    .command('create')
    .description('record a flavor; extra specs such as cpu_arch=x86_64 are matched against the nodes')
    .argument('<name>', 'flavor name')
    .requiredOption('--vcpus <n>', 'vCPUs', integer)
    .requiredOption('--ram <mb>', 'memory, MB', integer)
    .requiredOption('--disk <gb>', 'root disk, GB', integer)
    .option('--ephemeral <gb>', 'ephemeral disk, GB', integer, 0)
    .option('--swap <mb>', 'swap, MB', integer, 0)
    .option('--extra-spec <key=value>', 'an extra spec (repeatable)', collect, [])
    .option('--property <key=value>', 'the same as --extra-spec, as openstack flavor create names it', collect, [])
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
        extra_specs: properties([...o.extraSpec, ...o.property]),
      });
      s.printRecord(flavorRecord(f));
    });
  flavor
    .command('list')
    .description('list flavors')
    .action(async (_o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printList(await (await s.database()).flavors.list(), FLAVOR_COLUMNS);
    });
  flavor
    .command('show')
    .description('one flavor, by id or name')
    .argument('<flavor>', 'flavor id or name')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      s.printRecord(flavorRecord(await (await s.database()).flavors.find(ref)));
    });
  flavor
    .command('delete')
    .description('delete flavors (instances booted with one keep their copy of it)')
    .argument('<flavor...>', 'flavor ids or names')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const db = await s.database();
      const deleted: Flavor[] = [];
      for (const ref of refs) deleted.push(await db.flavors.delete(ref));
      s.print(deleted.map(flavorRecord), () => deleted.map((f) => `deleted flavor ${f.name} (id ${f.id})`).join('\n'));
    });
  // --property and --no-property share one value in commander (the last one given wins): the
  // flag is read from the events instead, so that --no-property clears first wherever it stands.
  const given = { clear: false, set: [] as string[] };
  flavor
    .command('set')
    .description('set properties (extra specs) of a flavor, as openstack flavor set')
    .argument('<flavor>', 'flavor id or name')
    .option('--property <key=value>', 'a property to add or change (repeatable)')
    .option('--no-property', 'remove every property first (then add those of --property)')
    .on('option:property', (v: string) => given.set.push(v))
    .on('option:no-property', () => (given.clear = true))
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const set = properties(given.set);
      if (!given.clear && !given.set.length)
        throw new CliError('nothing to set: give --property KEY=VALUE or --no-property', 'usage');
      const f = await (
        await s.database()
      ).flavors.updateExtraSpecs(ref, (specs) => setProperties(specs, set, given.clear));
      s.printRecord(flavorRecord(f));
    });
  flavor
    .command('unset')
    .description('remove properties (extra specs) of a flavor, as openstack flavor unset')
    .argument('<flavor>', 'flavor id or name')
    .option('--property <key>', 'a property to remove (repeatable)', collect, [])
    .action(async (ref: string, o: { property: string[] }, cmd: Command) => {
      const s = session.for(cmd);
      if (!o.property.length) throw new CliError('nothing to unset: give --property KEY', 'usage');
      const f = await (
        await s.database()
      ).flavors.updateExtraSpecs(ref, (specs) => unsetProperties(ref, specs, o.property));
      s.printRecord(flavorRecord(f));
    });
}
