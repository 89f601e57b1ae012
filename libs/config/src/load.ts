import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
  RACK_SCHEMA,
  type ImagesOptions,
  type RackOptions,
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

/** One `--config-file PATH` or `--config-dir DIR`. */
export interface ConfigPath {
  readonly kind: 'file' | 'dir';
  readonly path: string;
}

/** The effective configuration: environment > config files (the later ones first) > defaults. Deeply frozen. */
export interface BmConfig {
  readonly default: DefaultOptions;
  readonly baremetal: BaremetalOptions;
  readonly netboot: NetbootOptions;
  readonly deploy_helper: DeployHelperOptions;
  readonly images: ImagesOptions;
  readonly glance: GlanceOptions;
  readonly oslo_messaging_rabbit: OsloMessagingRabbitOptions;
  readonly oslo_messaging_notifications: OsloMessagingNotificationsOptions;
  readonly rack: RackOptions;
  /** The config files read, in the order read: a later file overrides an earlier one. */
  readonly sources: { readonly files: readonly string[] };
  readonly warnings: readonly ConfigWarning[];
}

/** Every group's schema, by its section name (the sample config and the loader's section check). */
export const GROUP_SCHEMAS: { readonly [G in OptionGroup]: Readonly<Record<string, OptionDef<unknown>>> } = {
  DEFAULT: DEFAULT_SCHEMA,
  baremetal: BAREMETAL_SCHEMA,
  netboot: NETBOOT_SCHEMA,
  deploy_helper: DEPLOY_HELPER_SCHEMA,
  images: IMAGES_SCHEMA,
  glance: GLANCE_SCHEMA,
  oslo_messaging_rabbit: OSLO_MESSAGING_RABBIT_SCHEMA,
  oslo_messaging_notifications: OSLO_MESSAGING_NOTIFICATIONS_SCHEMA,
  rack: RACK_SCHEMA,
};

export interface LoadConfigOptions {
  /**
   * `--config-file` and `--config-dir`, in command-line order ({@link configPathsFromArgv}), as
   * oslo.config reads them: each file in turn, each directory's `*.conf` files sorted by name;
   * a later file overrides an earlier one, option by option. Before them, as oslo's default
   * files and directories: `BM_CONFIG_FILE` when no `--config-file` is given, then the
   * `*.conf` of `BM_CONFIG_DIR` when no `--config-dir` is given.
   */
  configPaths?: readonly ConfigPath[];
  /** One `--config-file` (read before `configPaths`). */
  configFile?: string;
  /** Defaults to `process.env`. */
  env?: Env;
}

/** Loads the configuration or throws a {@link ConfigError} listing every problem. */
export function loadConfig(opts: LoadConfigOptions = {}): BmConfig {
  const env = opts.env ?? process.env;
  const given: ConfigPath[] = [
    ...(opts.configFile !== undefined ? [{ kind: 'file' as const, path: opts.configFile }] : []),
    ...(opts.configPaths ?? []),
  ];
  const files = readConfigFiles(withEnvironmentPaths(given, env));
  return buildConfig(
    files.map((f) => parseIni(f.text, f.path)),
    env,
  );
}

/** Like {@link loadConfig}, for config text that is already in memory; `file` only labels messages. */
export function loadConfigFromText(text: string, opts: { file?: string; env?: Env } = {}): BmConfig {
  return buildConfig([parseIni(text, opts.file ?? '<config>')], opts.env ?? process.env);
}

/**
 * Every `--config-file PATH` (`--config-file=PATH`) and `--config-dir DIR` (`--config-dir=DIR`)
 * of a command line, in order, up to `--`.
 */
export function configPathsFromArgv(argv: readonly string[]): ConfigPath[] {
  const paths: ConfigPath[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    for (const kind of ['file', 'dir'] as const) {
      const flag = `--config-${kind}`;
      let path: string | undefined;
      if (arg === flag) {
        path = argv[++i];
        if (path === undefined || path.startsWith('--')) throw missingPath(flag);
      } else if (arg.startsWith(`${flag}=`)) {
        path = arg.slice(flag.length + 1);
      } else {
        continue;
      }
      if (path === '') throw missingPath(flag);
      paths.push({ kind, path });
    }
  }
  return paths;
}

function missingPath(flag: string): ConfigError {
  return new ConfigError([makeIssue({ option: flag, message: 'needs a path' })]);
}

/** A path to read, and which environment variable named it (for messages). */
interface PathToRead extends ConfigPath {
  readonly from?: 'BM_CONFIG_FILE' | 'BM_CONFIG_DIR';
}

/** oslo's default config files and dirs, ours from the environment, go first when not overridden. */
function withEnvironmentPaths(given: readonly ConfigPath[], env: Env): PathToRead[] {
  const paths: PathToRead[] = [];
  const file = envValue(env, 'BM_CONFIG_FILE');
  if (file !== undefined && !given.some((p) => p.kind === 'file'))
    paths.push({ kind: 'file', path: file, from: 'BM_CONFIG_FILE' });
  const dir = envValue(env, 'BM_CONFIG_DIR');
  if (dir !== undefined && !given.some((p) => p.kind === 'dir'))
    paths.push({ kind: 'dir', path: dir, from: 'BM_CONFIG_DIR' });
  return [...paths, ...given];
}

/** The text of every file to read, in order; every path that cannot be read is reported at once. */
function readConfigFiles(paths: readonly PathToRead[]): { path: string; text: string }[] {
  const problems: ConfigProblem[] = [];
  const files: { path: string; text: string }[] = [];
  const origin = (p: PathToRead) => (p.from !== undefined ? ` (from ${p.from})` : '');
  for (const p of paths) {
    if (p.path === '') {
      problems.push(makeIssue({ option: `--config-${p.kind}`, message: 'needs a path' }));
      continue;
    }
    const names = p.kind === 'file' ? [p.path] : confFilesIn(p.path, origin(p), problems);
    for (const path of names) {
      const text = readText(path, p.kind === 'file' ? origin(p) : '', problems);
      if (text !== undefined) files.push({ path, text });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return files;
}

/**
 * The `*.conf` files of a config directory, sorted by name, as oslo.config's
 * `sorted(glob(DIR/*.conf))`: hidden files are left out as glob leaves them; subdirectories too.
 */
function confFilesIn(dir: string, origin: string, problems: ConfigProblem[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error: unknown) {
    const why = fsReason(error, {
      ENOENT: 'config directory not found',
      ENOTDIR: 'config directory path is not a directory',
      EACCES: 'config directory is not readable (permission denied)',
      other: 'cannot read config directory',
    });
    problems.push(makeIssue({ file: dir, message: why + origin }));
    return [];
  }
  return names
    .filter((name) => name.endsWith('.conf') && !name.startsWith('.'))
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => !isDirectory(path));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // A dangling link: reading it reports it.
  }
}

function readText(file: string, origin: string, problems: ConfigProblem[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error: unknown) {
    const why = fsReason(error, {
      ENOENT: 'config file not found',
      EACCES: 'config file is not readable (permission denied)',
      EISDIR: 'config file path is a directory',
      other: 'cannot read config file',
    });
    problems.push(makeIssue({ file, message: why + origin }));
    return undefined;
  }
}

/** The message for a filesystem error, by its code; `other` gets the error's own message appended. */
function fsReason(error: unknown, reasons: Record<string, string> & { other: string }): string {
  // Structural checks: fs errors are not `instanceof Error` across realms (e.g. under Jest).
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
  const detail = typeof error === 'object' && error !== null && 'message' in error ? error.message : error;
  return code !== undefined && code !== 'other' && Object.hasOwn(reasons, code)
    ? reasons[code]
    : `${reasons.other}: ${String(detail)}`;
}

/** Empty variables count as unset, so `BM_X=${X}` in a compose file does not blank an option. */
function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

class Report {
  private readonly problemList: ConfigProblem[] = [];
  private readonly warningList: ConfigWarning[] = [];

  /** `files`: the config files in the order read, the order issues are listed in. */
  constructor(private readonly files: readonly string[]) {}

  problem(fields: ConfigIssue): void {
    this.problemList.push(makeIssue(fields));
  }

  warn(fields: ConfigIssue): void {
    this.warningList.push(makeIssue(fields));
  }

  problems(): ConfigProblem[] {
    return this.inOrder(this.problemList);
  }

  warnings(): ConfigWarning[] {
    return this.inOrder(this.warningList);
  }

  /** File issues by file (in reading order), then by line; then environment issues (the sort is stable). */
  private inOrder(issues: readonly ConfigIssue[]): ConfigIssue[] {
    const rank = (issue: ConfigIssue) => {
      const index = issue.file !== undefined ? this.files.indexOf(issue.file) : -1;
      return index < 0 ? Infinity : index;
    };
    return [...issues].sort((a, b) => rank(a) - rank(b) || (a.line ?? Infinity) - (b.line ?? Infinity));
  }
}

interface Sources {
  /** The config files, in the order read. */
  readonly docs: readonly IniDocument[];
  readonly env: Env;
  /** File entries claimed by some option; the rest are unknown. */
  readonly used: Set<IniEntry>;
  readonly report: Report;
}

function buildConfig(docs: readonly IniDocument[], env: Env): BmConfig {
  const report = new Report(docs.map((doc) => doc.file));
  for (const doc of docs) {
    for (const error of doc.errors) report.problem({ file: error.file, line: error.line, message: error.message });
    for (const warning of doc.warnings) {
      report.warn({
        file: warning.file,
        line: warning.line,
        group: warning.section,
        option: warning.key,
        message: warning.message,
      });
    }
  }

  const sources: Sources = { docs, env, used: new Set(), report };
  const defaults = resolveGroup('DEFAULT', DEFAULT_SCHEMA, sources);
  const baremetal = resolveGroup('baremetal', BAREMETAL_SCHEMA, sources);
  const netboot = resolveGroup('netboot', NETBOOT_SCHEMA, sources);
  const deployHelper = resolveGroup('deploy_helper', DEPLOY_HELPER_SCHEMA, sources);
  const images = resolveGroup('images', IMAGES_SCHEMA, sources);
  const rack = resolveGroup('rack', RACK_SCHEMA, sources);
  const glance = resolveGroup('glance', GLANCE_SCHEMA, sources);
  const rabbit = resolveGroup('oslo_messaging_rabbit', OSLO_MESSAGING_RABBIT_SCHEMA, sources);
  const notifications = resolveGroup('oslo_messaging_notifications', OSLO_MESSAGING_NOTIFICATIONS_SCHEMA, sources);
  for (const doc of docs) warnUnused(doc, sources);

  const problems = report.problems();
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    default: Object.freeze(defaults),
    baremetal: Object.freeze(baremetal),
    netboot: Object.freeze(netboot),
    deploy_helper: Object.freeze(deployHelper),
    images: Object.freeze(images),
    rack: Object.freeze(rack),
    glance: Object.freeze(glance),
    oslo_messaging_rabbit: Object.freeze(rabbit),
    oslo_messaging_notifications: Object.freeze(notifications),
    sources: Object.freeze({ files: Object.freeze(docs.map((doc) => doc.file)) }),
    warnings: Object.freeze(report.warnings()),
  });
}

function resolveGroup<O>(group: OptionGroup, schema: Schema<O>, sources: Sources): O {
  const values: Partial<O> = {};
  for (const name of schemaKeys(schema)) values[name] = resolveOption(group, name, schema[name], sources);
  return values as O;
}

/**
 * The environment wins; then the config files, as oslo.config reads them: the last file that
 * sets the option (under any of its names) gives its value, and earlier files are overridden
 * silently; within that file, the option's own name beats the other places (each such place
 * is warned about), and a repeated line beats the lines above it. A multi-valued option
 * (`multi`) takes every line of every file instead.
 */
function resolveOption<T>(group: OptionGroup, name: string, def: OptionDef<T>, sources: Sources): T {
  const perFile = sources.docs.map((doc) => findInFile(doc, group, name, def));
  const hits = perFile.flat();
  for (const hit of hits) for (const entry of hit.entries) sources.used.add(entry);
  const where = (hit: FileHit, entry = lastOf(hit)) => ({
    file: hit.doc.file,
    line: entry.line,
    group: hit.section,
    option: entry.key,
  });
  const envValueOf = () => {
    for (const variable of [def.env ?? envVarName(name), ...(def.envAliases ?? [])]) {
      const raw = envValue(sources.env, variable);
      if (raw !== undefined) return { raw, where: { env: variable, group, option: name } };
    }
    return undefined;
  };

  if (def.multi === true) {
    for (const hit of hits) if (hit.note !== undefined) sources.report.warn({ ...where(hit), message: hit.note });
    const fromEnv = envValueOf();
    if (fromEnv !== undefined) return parseValue(fromEnv.raw, def, fromEnv.where, sources.report);
    if (hits.length === 0) return def.default;
    return joinLists(
      perFile.flatMap((fileHits) =>
        fileHits
          .flatMap((hit) => hit.entries.map((entry) => ({ hit, entry })))
          .sort((a, b) => a.entry.line - b.entry.line)
          .map(({ hit, entry }) => parseValue(entry.value, def, where(hit, entry), sources.report)),
      ),
    );
  }

  for (const hit of hits) {
    const [first, ...again] = hit.entries;
    for (const entry of again) {
      sources.report.warn({
        ...where(hit, entry),
        message: `set again (first set at line ${first.line}); the last value wins`,
      });
    }
  }
  let latest: readonly FileHit[] = [];
  for (const fileHits of perFile) if (fileHits.length > 0) latest = fileHits;
  const [chosen, ...ignored] = latest;
  if (chosen?.note !== undefined) sources.report.warn({ ...where(chosen), message: chosen.note });
  for (const hit of ignored) {
    const winner = `[${chosen.section}] ${lastOf(chosen).key} (line ${lastOf(chosen).line})`;
    sources.report.warn({ ...where(hit), message: `ignored: ${winner} takes precedence` });
  }

  const fromEnv = envValueOf();
  if (fromEnv !== undefined) return parseValue(fromEnv.raw, def, fromEnv.where, sources.report);
  if (chosen !== undefined) return parseValue(lastOf(chosen).value, def, where(chosen), sources.report);
  return def.default;
}

function lastOf(hit: FileHit): IniEntry {
  return hit.entries[hit.entries.length - 1];
}

/** The values of a multi-valued option's lines, one list, each item once. */
function joinLists<T>(lists: readonly T[]): T {
  const items = lists.flatMap((list) => {
    if (!Array.isArray(list)) throw new TypeError('a multi-valued option needs a list type');
    return list as unknown[];
  });
  return Object.freeze([...new Set(items)]) as T;
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
  readonly doc: IniDocument;
  readonly section: string;
  /** Every line of the file that sets this name in this section, in order (the last one counts). */
  readonly entries: readonly IniEntry[];
  /** Why this spelling or place earns a warning. */
  readonly note?: string;
}

/** Every place one file sets this option, best first (the first one is used, the rest are ignored). */
function findInFile<T>(doc: IniDocument, group: OptionGroup, name: string, def: OptionDef<T>): FileHit[] {
  const hits: FileHit[] = [];
  const look = (section: string, key: string, note?: string) => {
    const entries = doc.sections.get(section)?.entries.get(key);
    if (entries !== undefined && entries.length > 0) hits.push({ doc, section, entries, note });
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
    for (const entry of [...section.entries.values()].flat()) {
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
  return Object.hasOwn(GROUP_SCHEMAS, name);
}

function unknownSection(name: string): string {
  const meant = OPTION_GROUPS.find((group) => group.toLowerCase() === name.toLowerCase());
  return meant === undefined
    ? 'unknown section, ignored'
    : `unknown section, ignored (section names are case-sensitive: did you mean [${meant}]?)`;
}
