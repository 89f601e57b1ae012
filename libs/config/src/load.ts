import { readFileSync } from 'node:fs';
import { IniDocument, IniEntry, parseIni } from './ini';
import { ConfigError, ConfigIssue, ConfigProblem, ConfigWarning, makeIssue } from './issues';
import {
  BAREMETAL_SCHEMA,
  BaremetalOptions,
  NETBOOT_SCHEMA,
  NetbootOptions,
  DEPLOY_HELPER_SCHEMA,
  type DeployHelperOptions,
  GLANCE_SCHEMA,
  type GlanceOptions,
  IMAGES_SCHEMA,
  type ImagesOptions,
  DEFAULT_SCHEMA,
  DefaultOptions,
  OSLO_MESSAGING_NOTIFICATIONS_SCHEMA,
  OSLO_MESSAGING_RABBIT_SCHEMA,
  type OsloMessagingNotificationsOptions,
  type OsloMessagingRabbitOptions,
  envVarName,
  OPTION_GROUPS,
  OptionDef,
  OptionGroup,
  Schema,
  schemaKeys,
} from './options';
import { InvalidValue } from './value-types';

export type Env = Readonly<Record<string, string | undefined>>;

/** The effective configuration: environment > config file > defaults. Deeply frozen. */
export interface BmConfig {
  readonly default: DefaultOptions;
  readonly baremetal: BaremetalOptions;
  readonly netboot: NetbootOptions;
  readonly deploy_helper: DeployHelperOptions;
  readonly images: ImagesOptions;
  readonly glance: GlanceOptions;
  readonly oslo_messaging_rabbit: OsloMessagingRabbitOptions;
  readonly oslo_messaging_notifications: OsloMessagingNotificationsOptions;
  readonly sources: { readonly file?: string };
  readonly warnings: readonly ConfigWarning[];
}

export interface LoadConfigOptions {
  /** Config file path; when absent, `BM_CONFIG_FILE` from the environment; when that is absent too, no file. */
  configFile?: string;
  /** Defaults to `process.env`. */
  env?: Env;
}

/** Loads the configuration or throws a {@link ConfigError} listing every problem. */
export function loadConfig(opts: LoadConfigOptions = {}): BmConfig {
  const env = opts.env ?? process.env;
  const fromEnv = opts.configFile === undefined ? envValue(env, 'BM_CONFIG_FILE') : undefined;
  const file = opts.configFile ?? fromEnv;
  if (file === undefined) return buildConfig(undefined, env);
  const text = readConfigFile(file, fromEnv !== undefined ? ' (from BM_CONFIG_FILE)' : '');
  return buildConfig(parseIni(text, file), env);
}

/** Like {@link loadConfig}, for config text that is already in memory; `file` only labels messages. */
export function loadConfigFromText(text: string, opts: { file?: string; env?: Env } = {}): BmConfig {
  return buildConfig(parseIni(text, opts.file ?? '<config>'), opts.env ?? process.env);
}

/** The path given by `--config-file PATH` or `--config-file=PATH` (the last one wins), if any. */
export function configFileFromArgv(argv: readonly string[]): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    if (arg === '--config-file') {
      file = argv[++i];
      if (file === undefined || file === '' || file.startsWith('--')) throw missingPath();
    } else if (arg.startsWith('--config-file=')) {
      file = arg.slice('--config-file='.length);
      if (file === '') throw missingPath();
    }
  }
  return file;
}

function missingPath(): ConfigError {
  return new ConfigError([makeIssue({ option: '--config-file', message: 'needs a path' })]);
}

function readConfigFile(file: string, origin: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error: unknown) {
    // Structural checks: fs errors are not `instanceof Error` across realms (e.g. under Jest).
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
    const detail = typeof error === 'object' && error !== null && 'message' in error ? error.message : error;
    const why =
      code === 'ENOENT'
        ? 'config file not found'
        : code === 'EACCES'
          ? 'config file is not readable (permission denied)'
          : code === 'EISDIR'
            ? 'config file path is a directory'
            : `cannot read config file: ${String(detail)}`;
    throw new ConfigError([makeIssue({ file, message: why + origin })]);
  }
}

/** Empty variables count as unset, so `BM_X=${X}` in a compose file does not blank an option. */
function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

class Report {
  private readonly problemList: ConfigProblem[] = [];
  private readonly warningList: ConfigWarning[] = [];

  problem(fields: ConfigIssue): void {
    this.problemList.push(makeIssue(fields));
  }

  warn(fields: ConfigIssue): void {
    this.warningList.push(makeIssue(fields));
  }

  problems(): ConfigProblem[] {
    return byLine(this.problemList);
  }

  warnings(): ConfigWarning[] {
    return byLine(this.warningList);
  }
}

/** File issues in line order, then environment issues (the sort is stable). */
function byLine(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}

interface Sources {
  readonly doc?: IniDocument;
  readonly env: Env;
  /** File entries claimed by some option; the rest are unknown. */
  readonly used: Set<IniEntry>;
  readonly report: Report;
}

function buildConfig(doc: IniDocument | undefined, env: Env): BmConfig {
  const report = new Report();
  for (const error of doc?.errors ?? []) report.problem({ file: error.file, line: error.line, message: error.message });
  for (const warning of doc?.warnings ?? []) {
    report.warn({
      file: warning.file,
      line: warning.line,
      group: warning.section,
      option: warning.key,
      message: warning.message,
    });
  }

  const sources: Sources = { doc, env, used: new Set(), report };
  const defaults = resolveGroup('DEFAULT', DEFAULT_SCHEMA, sources);
  const baremetal = resolveGroup('baremetal', BAREMETAL_SCHEMA, sources);
  const netboot = resolveGroup('netboot', NETBOOT_SCHEMA, sources);
  const deployHelper = resolveGroup('deploy_helper', DEPLOY_HELPER_SCHEMA, sources);
  const images = resolveGroup('images', IMAGES_SCHEMA, sources);
  const glance = resolveGroup('glance', GLANCE_SCHEMA, sources);
  const rabbit = resolveGroup('oslo_messaging_rabbit', OSLO_MESSAGING_RABBIT_SCHEMA, sources);
  const notifications = resolveGroup('oslo_messaging_notifications', OSLO_MESSAGING_NOTIFICATIONS_SCHEMA, sources);
  if (doc !== undefined) warnUnused(doc, sources);

  const problems = report.problems();
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    default: Object.freeze(defaults),
    baremetal: Object.freeze(baremetal),
    netboot: Object.freeze(netboot),
    deploy_helper: Object.freeze(deployHelper),
    images: Object.freeze(images),
    glance: Object.freeze(glance),
    oslo_messaging_rabbit: Object.freeze(rabbit),
    oslo_messaging_notifications: Object.freeze(notifications),
    sources: Object.freeze(doc !== undefined ? { file: doc.file } : {}),
    warnings: Object.freeze(report.warnings()),
  });
}

function resolveGroup<O>(group: OptionGroup, schema: Schema<O>, sources: Sources): O {
  const values: Partial<O> = {};
  for (const name of schemaKeys(schema)) values[name] = resolveOption(group, name, schema[name], sources);
  return values as O;
}

function resolveOption<T>(group: OptionGroup, name: string, def: OptionDef<T>, sources: Sources): T {
  const hits = sources.doc !== undefined ? findInFile(sources.doc, group, name, def) : [];
  for (const hit of hits) sources.used.add(hit.entry);
  const [chosen, ...ignored] = hits;
  const where = (hit: FileHit) => ({
    file: sources.doc?.file,
    line: hit.entry.line,
    group: hit.section,
    option: hit.entry.key,
  });
  if (chosen?.note !== undefined) sources.report.warn({ ...where(chosen), message: chosen.note });
  for (const hit of ignored) {
    const winner = `[${chosen.section}] ${chosen.entry.key} (line ${chosen.entry.line})`;
    sources.report.warn({ ...where(hit), message: `ignored: ${winner} takes precedence` });
  }

  for (const variable of [def.env ?? envVarName(name), ...(def.envAliases ?? [])]) {
    const raw = envValue(sources.env, variable);
    if (raw !== undefined) return parseValue(raw, def, { env: variable, group, option: name }, sources.report);
  }
  if (chosen !== undefined) return parseValue(chosen.entry.value, def, where(chosen), sources.report);
  return def.default;
}

function parseValue<T>(raw: string, def: OptionDef<T>, where: Omit<ConfigIssue, 'message'>, report: Report): T {
  try {
    return def.type.parse(raw, (message) => report.warn({ ...where, message }));
  } catch (error: unknown) {
    if (!(error instanceof InvalidValue)) throw error;
    report.problem({ ...where, message: error.message });
    return def.default;
  }
}

interface FileHit {
  readonly entry: IniEntry;
  readonly section: string;
  /** Why this spelling or place earns a warning. */
  readonly note?: string;
}

/** Every place the file sets this option, best first (the first one is used, the rest are ignored). */
function findInFile<T>(doc: IniDocument, group: OptionGroup, name: string, def: OptionDef<T>): FileHit[] {
  const hits: FileHit[] = [];
  const look = (section: string, key: string, note?: string) => {
    const entry = doc.sections.get(section)?.entries.get(key);
    if (entry !== undefined) hits.push({ entry, section, note });
  };
  look(group, name);
  for (const other of def.otherNames ?? []) look(group, other);
  for (const old of def.deprecatedNames ?? []) {
    for (const section of OPTION_GROUPS) look(section, old, `deprecated name: use ${name} in [${group}]`);
  }
  // nova's own sample nova.conf puts some [DEFAULT] options under [baremetal].
  if (group === 'DEFAULT') look('baremetal', name, 'belongs in [DEFAULT]; accepted in [baremetal] for compatibility');
  return hits;
}

function warnUnused(doc: IniDocument, { used, report }: Sources): void {
  for (const section of doc.sections.values()) {
    if (!isGroup(section.name)) {
      report.warn({ file: doc.file, line: section.line, group: section.name, message: unknownSection(section.name) });
      continue;
    }
    for (const entry of section.entries.values()) {
      if (used.has(entry)) continue;
      const misplaced = section.name === 'DEFAULT' && Object.hasOwn(BAREMETAL_SCHEMA, entry.key);
      const message = misplaced
        ? 'unknown option in [DEFAULT], ignored: move it to [baremetal]'
        : 'unknown option, ignored';
      report.warn({ file: doc.file, line: entry.line, group: section.name, option: entry.key, message });
    }
  }
}

function isGroup(name: string): name is OptionGroup {
  return (OPTION_GROUPS as readonly string[]).includes(name);
}

function unknownSection(name: string): string {
  const meant = OPTION_GROUPS.find((group) => group.toLowerCase() === name.toLowerCase());
  return meant === undefined
    ? 'unknown section, ignored'
    : `unknown section, ignored (section names are case-sensitive: did you mean [${meant}]?)`;
}
