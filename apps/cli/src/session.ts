import { type Command, InvalidArgumentError, Option } from 'commander';
import { ComputeClient, SchedulerClient } from '@bm/contracts';
import { type BmConfig, type ConfigPath, loadConfig, redactUrl } from '@bm/config';
import { NovaBmDatabase, PasswordVault } from '@bm/db';
import { EnrollmentService } from '@bm/enrollment';
import { GlanceClient } from '@bm/images';
import { AmqpConnection, ConnectionLost, RpcClient } from '@bm/messaging';
import { CliError } from './errors';
import {
  type Column,
  DEFAULT_OUTPUT,
  type Io,
  OUTPUT_FORMATS,
  type OutputFormat,
  type OutputOptions,
  formatData,
  formatList,
  formatRecord,
} from './output';

export interface CliEnv {
  io: Io;
  env: Record<string, string | undefined>;
  /** Reads a file, or standard input for `-`. */
  readText(path: string): Promise<string>;
  /** The management API client; tests may pass their own. */
  fetch?: typeof fetch;
}

interface Globals {
  /** `--config-file` and `--config-dir`, in command-line order. */
  configPaths: ConfigPath[];
  output: OutputOptions;
}

/** A `--config-file` or `--config-dir` and its place on the command line. */
interface ConfigPathGiven extends ConfigPath {
  readonly place: number;
}
let places = 0;
/**
 * Collects `--config-file` (or `--config-dir`) values. oslo.config reads files and directories in
 * command-line order, and commander keeps each option's values apart: each carries its place.
 */
const configPath =
  (kind: ConfigPath['kind']) =>
  (path: string, previous: ConfigPathGiven[] = []): ConfigPathGiven[] => [...previous, { kind, path, place: places++ }];

/** The options every bmctl command takes, before or after its name (see `addGlobalOptions`). */
function globalOptions(): Option[] {
  return [
    new Option(
      '--config-file <path>',
      'nova.conf-style file; repeat for several: a later file overrides an earlier one (default: $BM_CONFIG_FILE)',
    ).argParser(configPath('file')),
    new Option(
      '--config-dir <dir>',
      'every *.conf file in DIR, by name, read after the config files given before it (default: $BM_CONFIG_DIR)',
    ).argParser(configPath('dir')),
    new Option('-f, --format <format>', 'output format (default: table)').choices(OUTPUT_FORMATS),
    new Option(
      '-c, --column <column>',
      'a column (or field) to show, by its header; repeat for several, in that order',
    ).argParser(collect),
    new Option('--long', 'show the long columns of a list too'),
    new Option('--json', 'print JSON: the same as -f json'),
  ];
}

/** Our copies of the global options (a command's own option of the same name is not one of them). */
const GLOBAL_OPTIONS = new WeakSet<Option>();

/**
 * Gives `cmd` and every command under it the global options, so that they may follow a command's
 * name (`bmctl flavor list -f json`) as well as precede it. Options are positional (an option
 * belongs to the command it follows), so a command's own option of the same name stays its own
 * (`node import --format csv`, `db sync --version 3`): that command does not get ours.
 */
export function addGlobalOptions(cmd: Command): void {
  const taken = new Set(cmd.options.filter((o) => !GLOBAL_OPTIONS.has(o)).flatMap((o) => [o.long, o.short]));
  for (const o of globalOptions()) {
    if ((o.long && taken.has(o.long)) || (o.short && taken.has(o.short))) continue;
    GLOBAL_OPTIONS.add(o);
    cmd.addOption(o);
  }
  cmd.commands.forEach(addGlobalOptions);
}

/** The global options as given, from bmctl down to `cmd`: the nearest wins; columns add up. */
function readGlobals(cmd: Command): Globals {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const given: { format?: OutputFormat; column: string[]; long?: boolean; json?: boolean } = { column: [] };
  const configPaths: ConfigPathGiven[] = [];
  for (const c of chain) {
    for (const o of c.options) {
      if (!GLOBAL_OPTIONS.has(o)) continue;
      const key = o.attributeName();
      const v: unknown = c.getOptionValue(key);
      if (v === undefined) continue;
      if (key === 'column') given.column.push(...(v as string[]));
      else if (key === 'configFile' || key === 'configDir') configPaths.push(...(v as ConfigPathGiven[]));
      else Object.assign(given, { [key]: v });
    }
  }
  if (given.json && given.format && given.format !== 'json')
    throw new CliError(`--json and -f ${given.format}: choose one`, 'usage');
  return {
    configPaths: configPaths.sort((a, b) => a.place - b.place).map(({ kind, path }) => ({ kind, path })),
    output: {
      format: given.json ? 'json' : (given.format ?? DEFAULT_OUTPUT.format),
      columns: given.column,
      long: given.long === true,
    },
  };
}

/**
 * What one bmctl run opens, lazily and once: the configuration, the database, the broker.
 * Commands reach it through `session.for(cmd)`; `close()` releases everything.
 */
export class CliSession {
  private config?: BmConfig;
  private db?: NovaBmDatabase;
  private amqp?: AmqpConnection;
  private globals: Globals = { configPaths: [], output: DEFAULT_OUTPUT };

  constructor(readonly env: CliEnv) {}

  /** Binds the session to the global options of the command being run. */
  for(cmd: Command): this {
    this.globals = readGlobals(cmd);
    return this;
  }

  /** What `-f`, `-c` and `--long` ask for. */
  get output(): OutputOptions {
    return this.globals.output;
  }

  getConfig(): BmConfig {
    if (!this.config) {
      this.config = loadConfig({ configPaths: this.globals.configPaths, env: this.env.env });
      for (const w of this.config.warnings) this.env.io.err(`warning: ${String(w)}`);
    }
    return this.config;
  }

  /** The configured database URL, when the configuration has been read (for error messages). */
  get databaseUrl(): string | undefined {
    return this.config?.baremetal.sql_connection;
  }

  /** nova_bm: its repositories and schema, with the BMC password key (`[baremetal] pm_password_key_file`). */
  async database(): Promise<NovaBmDatabase> {
    const c = this.getConfig().baremetal;
    this.db ??= await NovaBmDatabase.open(c.sql_connection, PasswordVault.fromKeyFile(c.pm_password_key_file));
    return this.db;
  }

  async enrollment(): Promise<EnrollmentService> {
    return EnrollmentService.of(await this.database(), this.getConfig().default.host);
  }

  /** An RPC client on the broker, on the configured control exchange (or `exchange`). */
  async rpc(exchange?: string): Promise<RpcClient> {
    return new RpcClient(await this.broker(), { exchange: exchange ?? this.getConfig().default.control_exchange });
  }

  /** The compute hosts; calls wait `timeoutS` (default: rpc_response_timeout). */
  async compute(timeoutS?: number): Promise<ComputeClient> {
    return new ComputeClient(await this.rpc(), timeoutS ?? this.getConfig().default.rpc_response_timeout);
  }

  /** The image service at `[glance] api_servers` (the first), with $OS_AUTH_TOKEN when set. */
  glance(): GlanceClient {
    const token = this.env.env.OS_AUTH_TOKEN;
    return new GlanceClient(this.getConfig().glance.api_servers[0], token === '' ? undefined : token);
  }

  async scheduler(): Promise<SchedulerClient> {
    return new SchedulerClient(await this.rpc());
  }

  /** The broker, failing fast (no reconnect loop) when it cannot be reached. */
  async broker(): Promise<AmqpConnection> {
    const config = this.getConfig();
    const url = config.default.transport_url;
    try {
      this.amqp ??= await AmqpConnection.open({ url, ssl: config.oslo_messaging_rabbit, initialMaxRetries: 0 });
    } catch (e) {
      const why = (e as { code?: string }).code ?? (e as Error).message;
      throw new ConnectionLost(`cannot reach the message broker at ${redactUrl(url)} (${why})`);
    }
    return this.amqp;
  }

  /** A list, as `-f`, `-c` and `--long` ask (json/yaml: objects keyed by column header). */
  printList<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
    const text = formatList(rows, columns, this.globals.output);
    if (text !== '') this.env.io.out(text);
  }

  /** One object as a Field/Value table, or as `-f` and `-c` ask. */
  printRecord(record: Record<string, unknown>): void {
    const text = formatRecord(record, this.globals.output);
    if (text !== '') this.env.io.out(text);
  }

  /**
   * An output that is neither a list nor a record (a summary, a message): `data` as JSON for
   * `-f json` / `--json`, as YAML for `-f yaml`, `human()` otherwise.
   */
  print(data: unknown, human: () => string): void {
    const f = this.globals.output.format;
    this.env.io.out(f === 'json' || f === 'yaml' ? formatData(data, f) : human());
  }

  async close(): Promise<void> {
    await this.db?.close();
    await this.amqp?.close();
  }
}

export function integer(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

export function positiveInteger(value: string): number {
  if (!/^[0-9]+$/.test(value) || !(Number(value) > 0) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!/^[0-9]*\.?[0-9]+$/.test(value) || !(n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
