import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { DataSource } from 'typeorm';
import { type BmConfig, loadConfig, redactUrl } from '@bm/config';
import { LATEST_VERSION, ensureDatabase, openDataSource, schemaVersion, syncSchema } from '@bm/db';
import { EnrollmentService, type ImportResult } from '@bm/enrollment';
import { CliError, Exit, describeError } from './errors';
import { type Io, interfacesTable, nodeTable, nodesTable } from './output';

export interface CliEnv {
  io: Io;
  env: Record<string, string | undefined>;
  /** Reads a file, or standard input for `-`. */
  readText(path: string): Promise<string>;
}

interface Globals {
  configFile?: string;
  json?: boolean;
}

function integer(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * bmctl: mirrors `nova-baremetal-manage db …` and the `nova baremetal-node-* /
 * baremetal-interface-*` commands. Everything goes through EnrollmentService.
 */
export async function runCli(argv: string[], ctx: CliEnv): Promise<number> {
  const { io } = ctx;
  let config: BmConfig | undefined;
  let ds: DataSource | undefined;

  const getConfig = (g: Globals): BmConfig => {
    if (!config) {
      config = loadConfig({ configFile: g.configFile, env: ctx.env });
      for (const w of config.warnings) io.err(`warning: ${String(w)}`);
    }
    return config;
  };
  const getDataSource = async (g: Globals): Promise<DataSource> => {
    ds ??= await openDataSource(getConfig(g).baremetal.sql_connection);
    return ds;
  };
  const enrollment = async (g: Globals) => new EnrollmentService(await getDataSource(g), getConfig(g).default.host);
  const print = (g: Globals, data: unknown, human: () => string) => io.out(g.json ? JSON.stringify(data, null, 2) : human());

  const program = new Command('bmctl')
    .description('Operate nova-bm: the nova_bm database, enrolled nodes and their interfaces.')
    .option('--config-file <path>', 'nova.conf-style file (default: $BM_CONFIG_FILE)')
    .option('--json', 'print JSON instead of tables')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  const globals = (cmd: Command) => cmd.optsWithGlobals() as Globals;

  // --- db ----------------------------------------------------------------------------------
  const db = program.command('db').description('the nova_bm schema (nova-baremetal-manage db)');
  db.command('sync')
    .description(`upgrade the schema to the latest version (${LATEST_VERSION}), or up/down to --version`)
    .option('--version <n>', 'target schema version', integer)
    .option('--create-database', 'create the database first if it does not exist')
    .action(async (o: { version?: number; createDatabase?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const url = getConfig(g).baremetal.sql_connection;
      if (o.createDatabase && (await ensureDatabase(url))) io.err(`created database ${redactUrl(url)}`);
      const r = await syncSchema(await getDataSource(g), o.version);
      print(g, r, () => (r.from === r.to ? `nova_bm schema is at version ${r.to}` : `nova_bm schema: version ${r.from} -> ${r.to}`));
    });
  db.command('version')
    .description('print the schema version of the database')
    .action(async (_o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const v = await schemaVersion(await getDataSource(g));
      print(g, { version: v, latest: LATEST_VERSION }, () => String(v));
    });

  // --- node --------------------------------------------------------------------------------
  const node = program.command('node').description('enrolled bare-metal nodes (nova baremetal-node-*)');
  node.command('create')
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
      const g = globals(cmd);
      const password = o.pmPasswordFile ? (await ctx.readText(String(o.pmPasswordFile))).replace(/\r?\n$/, '') : undefined;
      const input = {
        macs: o.mac, cpus: o.cpus, memory_mb: o.memoryMb, local_gb: o.localGb, pm_address: o.pmAddress,
        pm_user: o.pmUser, pm_password: password, cpu_arch: o.cpuArch, service_host: o.serviceHost,
        terminal_port: o.terminalPort,
      };
      const created = await (await enrollment(g)).createNode(
        Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
      );
      print(g, created, () => nodeTable(created));
    });
  node.command('list')
    .description('list enrolled nodes')
    .option('--host <host>', 'only nodes of this compute host')
    .action(async (o: { host?: string }, cmd: Command) => {
      const g = globals(cmd);
      const nodes = await (await enrollment(g)).listNodes({ serviceHost: o.host });
      print(g, nodes, () => nodesTable(nodes));
    });
  node.command('show')
    .description('show one node')
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const n = await (await enrollment(g)).getNode(ref);
      print(g, n, () => nodeTable(n));
    });
  node.command('delete')
    .description('delete a node (soft delete; its interfaces are removed)')
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const n = await (await enrollment(g)).deleteNode(ref);
      print(g, n, () => `deleted node ${n.id} (${n.uuid})`);
    });
  node.command('import')
    .description('enroll every node of a baremetal.csv (or JSON) file, all or nothing')
    .argument('<file>', 'the file (- reads standard input)')
    .option('--dry-run', 'validate everything, write nothing')
    .addOption(new Option('--format <format>', 'file format (default: from the name or content)').choices(['csv', 'json']))
    .option('--skip-enrolled', 'skip rows whose MAC is already enrolled instead of rejecting the file')
    .action(async (file: string, o: { dryRun?: boolean; format?: 'csv' | 'json'; skipEnrolled?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const text = await ctx.readText(file);
      const r = await (await enrollment(g)).importNodes(text, {
        source: file === '-' ? '(stdin)' : file, format: o.format, dryRun: o.dryRun, skipEnrolled: o.skipEnrolled,
      });
      print(g, r, () => importSummary(file, r));
    });

  // --- interface ---------------------------------------------------------------------------
  const iface = program.command('interface').description('NICs of a node (nova baremetal-interface-*)');
  iface.command('add')
    .description('add a NIC (MAC address) to a node')
    .argument('<node>', 'node id or UUID')
    .argument('<mac>', 'MAC address')
    .option('--datapath-id <id>', 'OpenFlow datapath id (informational)')
    .option('--port-no <n>', 'switch port number (informational)', integer)
    .action(async (ref: string, mac: string, o: { datapathId?: string; portNo?: number }, cmd: Command) => {
      const g = globals(cmd);
      const i = await (await enrollment(g)).addInterface(ref, {
        address: mac, ...(o.datapathId !== undefined ? { datapath_id: o.datapathId } : {}), ...(o.portNo !== undefined ? { port_no: o.portNo } : {}),
      });
      print(g, i, () => interfacesTable([i]));
    });
  iface.command('list')
    .description("list a node's NICs")
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const list = await (await enrollment(g)).listInterfaces(ref);
      print(g, list, () => interfacesTable(list));
    });
  iface.command('remove')
    .description('remove a NIC by MAC address or interface id')
    .argument('<node>', 'node id or UUID')
    .argument('<interface>', 'MAC address or interface id')
    .action(async (ref: string, which: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const i = await (await enrollment(g)).removeInterface(ref, which);
      print(g, i, () => `removed interface ${i.id} (${i.address}) from node ${ref}`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return Exit.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are "errors" to commander; everything else is a usage error.
      return e.exitCode === 0 ? Exit.OK : Exit.USAGE;
    }
    const d = describeError(e, config?.baremetal.sql_connection);
    io.err(`bmctl: ${d.message}`);
    return d.code;
  } finally {
    await ds?.destroy();
  }
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

export { CliError };
