import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './issues';
import { type BmConfig, type ConfigPath, type Env, configPathsFromArgv, loadConfig } from './load';

// Several config files and config directories, as oslo.config reads them.
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bm-config-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes `files` (relative path → text) under the test's directory; returns the first's full path. */
function write(files: Record<string, string>): string[] {
  return Object.entries(files).map(([name, text]) => {
    const path = join(root, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  });
}

const file = (path: string): ConfigPath => ({ kind: 'file', path });
const dir = (path: string): ConfigPath => ({ kind: 'dir', path });

function load(paths: ConfigPath[], env: Env = {}): BmConfig {
  return loadConfig({ configPaths: paths, env });
}

function problemLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error.problems.map(String);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('several --config-file', () => {
  it('merges them in order, option by option: a later file overrides an earlier one', () => {
    const [a, b] = write({
      'a.conf': '[DEFAULT]\nhost = from-a\nmy_ip = 10.0.0.1\n[netboot]\ntftp_port = 1069\n',
      'b.conf': '[DEFAULT]\nhost = from-b\n[netboot]\ndhcp_port = 1067\n',
    });
    const config = load([file(a), file(b)]);
    expect([config.default.host, config.default.my_ip]).toEqual(['from-b', '10.0.0.1']);
    expect([config.netboot.tftp_port, config.netboot.dhcp_port]).toEqual([1069, 1067]);
    expect(config.sources.files).toEqual([a, b]);
    expect(config.warnings).toEqual([]);
    expect(load([file(b), file(a)]).default.host).toBe('from-a');
  });

  it('lets a later file win whatever name it uses (a deprecated one is warned about there)', () => {
    const [a, b] = write({
      'a.conf': '[baremetal]\ntftp_root = /srv/a\n',
      'b.conf': '[baremetal]\n\nbaremetal_tftp_root = /srv/b\n',
    });
    const config = load([file(a), file(b)]);
    expect(config.baremetal.tftp_root).toBe('/srv/b');
    expect(config.warnings.map(String)).toEqual([
      `${b}:3: [baremetal] baremetal_tftp_root: deprecated name: use tftp_root in [baremetal]`,
    ]);
  });

  it('does not read a value that a later file overrides (as oslo: only the value used is checked)', () => {
    const [a, b] = write({
      'a.conf': '[baremetal]\npxe_deploy_timeout = soon\n',
      'b.conf': '[baremetal]\npxe_deploy_timeout = 60\n',
    });
    expect(load([file(a), file(b)]).baremetal.pxe_deploy_timeout).toBe(60);
    expect(problemLines(() => load([file(b), file(a)]))).toEqual([
      `${a}:2: [baremetal] pxe_deploy_timeout: 'soon' is not an integer`,
    ]);
  });

  it('names the file and line of every problem, file by file in reading order', () => {
    const [a, b] = write({
      'b-first.conf': '[DEFAULT]\nmy_ip = 10.0.0.300\n[netboot]\n  indented = 1\n',
      'a-second.conf': '[baremetal]\nipmi_power_retry = -1\nfoo\n',
    });
    expect(problemLines(() => load([file(a), file(b)]))).toEqual([
      `${a}:2: [DEFAULT] my_ip: '10.0.0.300' is not an IPv4 address`,
      `${a}:4: unexpected continuation line: a line starting with whitespace continues the value of the option above it, and there is none (remove the indentation)`,
      `${b}:2: [baremetal] ipmi_power_retry: must be >= 0 (got -1)`,
      `${b}:3: expected 'key = value', '[section]' or a comment`,
    ]);
  });

  it('warns about unknown options and repeated lines in each file, by file then line', () => {
    const [a, b] = write({
      'a.conf': '[DEFAULT]\nbogus = 1\nhost = x\nhost = y\n',
      'b.conf': '[DEFAULT]\nhost = z\n[nope]\n',
    });
    const config = load([file(a), file(b)]);
    expect(config.default.host).toBe('z');
    expect(config.warnings.map(String)).toEqual([
      `${a}:2: [DEFAULT] bogus: unknown option, ignored`,
      `${a}:4: [DEFAULT] host: set again (first set at line 3); the last value wins`,
      `${b}:3: [nope]: unknown section, ignored`,
    ]);
  });

  it('reports every file that cannot be read at once', () => {
    const [a] = write({ 'a.conf': '' });
    expect(problemLines(() => load([file(join(root, 'x.conf')), file(a), file(root), file('')]))).toEqual([
      `${join(root, 'x.conf')}: config file not found`,
      `${root}: config file path is a directory`,
      '--config-file: needs a path',
    ]);
  });

  it('gives continuation lines to the value types: a list over several lines, a scalar refused', () => {
    const [a] = write({
      'a.conf': '[glance]\napi_servers = http://a:9292,\n   http://b:9292\n[DEFAULT]\nmy_ip = 10.0.0.1\n  10.0.0.2\n',
    });
    expect(problemLines(() => load([file(a)]))).toEqual([
      `${a}:5: [DEFAULT] my_ip: '10.0.0.1\n10.0.0.2' is not an IPv4 address`,
    ]);
    writeFileSync(a, '[glance]\napi_servers = http://a:9292,\n   http://b:9292\n');
    expect(load([file(a)]).glance.api_servers).toEqual(['http://a:9292', 'http://b:9292']);
  });
});

describe('--config-dir', () => {
  it('reads every *.conf in it, sorted by name; not hidden files, other names or subdirectories', () => {
    const [main] = write({
      'nova.conf': '[DEFAULT]\nhost = main\nmy_ip = 10.0.0.1\ncontrol_exchange = main\n',
      'nova.conf.d/20-b.conf': '[DEFAULT]\nhost = twenty\nmy_ip = 10.0.0.20\n',
      'nova.conf.d/100-c.conf': '[DEFAULT]\nhost = hundred\n',
      'nova.conf.d/a.conf': '[DEFAULT]\nmy_ip = 10.0.0.99\n',
      'nova.conf.d/.hidden.conf': '[DEFAULT]\nhost = hidden\n',
      'nova.conf.d/z.conf.bak': '[DEFAULT]\nhost = backup\n',
      'nova.conf.d/sub.conf/x.conf': '[DEFAULT]\nhost = sub\n',
    });
    const d = join(root, 'nova.conf.d');
    const config = load([file(main), dir(d)]);
    // '100-c' < '20-b' < 'a': byte order, as Python's sorted().
    expect(config.sources.files).toEqual([main, join(d, '100-c.conf'), join(d, '20-b.conf'), join(d, 'a.conf')]);
    expect([config.default.host, config.default.my_ip, config.default.control_exchange]).toEqual([
      'twenty',
      '10.0.0.99',
      'main',
    ]);
  });

  it('takes its place on the command line: it overrides the files before it, not those after it', () => {
    const [a, b] = write({
      'a.conf': '[DEFAULT]\nhost = a\ncontrol_exchange = a\nperiodic_interval = 5\n',
      'b.conf': '[DEFAULT]\nhost = b\n',
      'd/x.conf': '[DEFAULT]\nhost = d\ncontrol_exchange = d\n',
    });
    const d = join(root, 'd');
    const config = load(configPathsFromArgv(['--config-file', a, '--config-dir', d, '--config-file', b]));
    expect(config.sources.files).toEqual([a, join(d, 'x.conf'), b]);
    expect([config.default.host, config.default.control_exchange, config.default.periodic_interval]).toEqual([
      'b',
      'd',
      5,
    ]);
    expect(load([dir(d), file(a)]).default.host).toBe('a');
  });

  it('must exist (oslo: ConfigDirNotFoundError); an empty one reads nothing', () => {
    const [a] = write({ 'a.conf': '' });
    mkdirSync(join(root, 'empty'));
    expect(problemLines(() => load([dir(join(root, 'missing')), dir(a)]))).toEqual([
      `${join(root, 'missing')}: config directory not found`,
      `${a}: config directory path is not a directory`,
    ]);
    expect(load([dir(join(root, 'empty'))]).sources.files).toEqual([]);
  });
});

describe('BM_CONFIG_FILE and BM_CONFIG_DIR', () => {
  it('are read first, each unless the command line gives its own kind (as oslo default files and dirs)', () => {
    const [envFile, cliFile] = write({
      'env.conf': '[DEFAULT]\nhost = env-file\nmy_ip = 10.0.0.1\ncontrol_exchange = env-file\n',
      'cli.conf': '[DEFAULT]\nhost = cli-file\n',
      'env.d/a.conf': '[DEFAULT]\nhost = env-dir\nmy_ip = 10.0.0.2\n',
      'cli.d/a.conf': '[DEFAULT]\nhost = cli-dir\n',
    });
    const env = { BM_CONFIG_FILE: envFile, BM_CONFIG_DIR: join(root, 'env.d') };
    const envDirFile = join(root, 'env.d/a.conf');
    expect(load([], env).sources.files).toEqual([envFile, envDirFile]);
    expect(load([], env).default.host).toBe('env-dir');
    // --config-file replaces BM_CONFIG_FILE only: BM_CONFIG_DIR is still read, before it.
    const withFile = load([file(cliFile)], env);
    expect(withFile.sources.files).toEqual([envDirFile, cliFile]);
    expect([withFile.default.host, withFile.default.my_ip, withFile.default.control_exchange]).toEqual([
      'cli-file',
      '10.0.0.2',
      'nova',
    ]);
    const withDir = load([dir(join(root, 'cli.d'))], env);
    expect(withDir.sources.files).toEqual([envFile, join(root, 'cli.d/a.conf')]);
    expect(withDir.default.host).toBe('cli-dir');
  });

  it('name themselves when what they point at is missing', () => {
    expect(
      problemLines(() => load([], { BM_CONFIG_FILE: '/nonexistent/nova.conf', BM_CONFIG_DIR: '/nonexistent/d' })),
    ).toEqual([
      '/nonexistent/nova.conf: config file not found (from BM_CONFIG_FILE)',
      '/nonexistent/d: config directory not found (from BM_CONFIG_DIR)',
    ]);
  });
});

describe('a multi-valued option (oslo MultiStrOpt: [oslo_messaging_notifications] driver)', () => {
  it('takes every line of every file, in order, without a warning', () => {
    const [a, b] = write({
      'a.conf': '[oslo_messaging_notifications]\ndriver = messagingv2\ndriver = log\n',
      'b.conf': '[oslo_messaging_notifications]\ndriver = noop, log\n',
    });
    const config = load([file(a), file(b)]);
    expect(config.oslo_messaging_notifications.driver).toEqual(['messagingv2', 'log', 'noop']);
    expect(config.warnings).toEqual([]);
  });

  it('reports a bad value at its own line; the environment replaces every line', () => {
    const [a] = write({ 'a.conf': '[oslo_messaging_notifications]\ndriver = log\ndriver = carrier-pigeon\n' });
    expect(problemLines(() => load([file(a)]))).toEqual([
      `${a}:3: [oslo_messaging_notifications] driver: 'carrier-pigeon' is not one of messagingv2, messaging, log, noop`,
    ]);
    expect(load([file(a)], { BM_NOTIFICATION_DRIVER: 'noop' }).oslo_messaging_notifications.driver).toEqual(['noop']);
  });
});
