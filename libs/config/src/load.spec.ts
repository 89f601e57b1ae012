import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ConfigProblem } from './issues';
import { BmConfig, configPathsFromArgv, Env, loadConfig, loadConfigFromText } from './load';

const FIXTURES = join(__dirname, '..', 'test-fixtures');
const SAMPLE = join(FIXTURES, 'nova.conf.sample');
const VEGAS_LAB = join(FIXTURES, 'nova.conf.vegas-lab');

function load(text: string, env: Env = {}): BmConfig {
  return loadConfigFromText(text, { file: 't.conf', env });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function problems(fn: () => unknown): ConfigProblem[] {
  return [...configError(fn).problems];
}

function warningLines(config: BmConfig): string[] {
  return config.warnings.map(String);
}

const DEFAULTS = {
  default: {
    debug: false,
    log_file: '',
    log_dir: '',
    use_json: false,
    use_syslog: false,
    syslog_log_facility: 'LOG_USER',
    log_date_format: '%Y-%m-%d %H:%M:%S',
    use_stderr: false,
    host: hostname(),
    my_ip: '127.0.0.1',
    compute_driver: 'baremetal',
    firewall_driver: 'nova.virt.firewall.NoopFirewallDriver',
    scheduler_host_manager: 'baremetal',
    scheduler_max_attempts: 3,
    scheduler_match_policy: 'exact',
    ram_allocation_ratio: 1.0,
    reserved_host_memory_mb: 0,
    dhcp_options_enabled: false,
    transport_url: 'rabbit://guest:guest@127.0.0.1:5672/',
    control_exchange: 'nova',
    periodic_interval: 60,
    rpc_response_timeout: 60,
    rpc_ping_enabled: false,
    executor_thread_pool_size: 64,
    rabbit_management_url: '',
    rpc_admin_role: 'admin',
    rpc_check_sender: false,
    rpc_host_user_prefix: 'compute-',
    rpc_host_users: {},
    rpc_admin_senders: '',
    instances_path: '/var/lib/nova-bm/instances',
    state_path: '/var/lib/nova-bm',
    health_host: '127.0.0.1',
    health_port: 0,
    use_ipv6: false,
    graceful_shutdown_timeout: 60,
  },
  baremetal: {
    sql_connection: 'postgresql://postgres@127.0.0.1:5432/nova_bm',
    pm_password_key_file: '',
    driver: 'pxe',
    power_manager: 'native',
    instance_type_extra_specs: {},
    tftp_root: '/tftpboot',
    terminal: 'shellinaboxd',
    terminal_cert_dir: '',
    terminal_pid_dir: '',
    pxe_bootfile_name: 'pxelinux.0',
    pxe_append_params: 'nofb nomodeset vga=normal',
    net_config_template: 'net-dhcp.ubuntu.template',
    deploy_kernel: '',
    deploy_ramdisk: '',
    pxe_interface: '',
    baremetal_type: 'baremetal',
    deploy_poll_interval: 1,
    pxe_deploy_timeout: 1800,
    pxe_network_config: false,
    use_file_injection: false,
    ipmi_power_retry: 10,
    power_sync_interval: 60,
    nova_conductor: false,
    report_interval: 10,
    sql_connect_timeout: 10,
    sql_statement_timeout: 30,
    ipmi_deadline: 5,
    use_unsafe_iscsi: false,
    iscsi_iqn_prefix: 'iqn.2010-10.org.openstack.baremetal',
    vif_driver: 'nova.virt.baremetal.vif_driver.BareMetalVIFDriver',
    volume_driver: 'nova.virt.baremetal.volume_driver.LibvirtVolumeDriver',
    db_backend: 'sqlalchemy',
  },
  netboot: {
    dhcp_mode: 'off',
    dhcp_range: null,
    dhcp_reservation_grace: 3600,
    dhcp_netmask: '255.255.255.0',
    dhcp_router: '',
    dhcp_lease_time: 86400,
    uefi_bootfile_name: 'bootx64.efi',
    ipxe_script_url: '',
    listen_address: '0.0.0.0',
    dhcp_broadcast: '255.255.255.255',
    dhcp_port: 67,
    tftp_enabled: false,
    tftp_max_transfers_per_client: 8,
    tftp_read_ahead_mb: 64,
    tftp_port: 69,
    image_cache_dir: '',
  },
  deploy_helper: {
    callback_listen_address: '0.0.0.0',
    callback_port: 10000,
    callback_max_body_bytes: 4096,
    deploy_workers: 1,
    job_queue: 'baremetal.deploy',
    iscsi_attacher: 'auto',
    iscsi_chap_user: '',
    iscsi_chap_password_file: '',
  },
  images: { api_listen_address: '127.0.0.1', api_port: 9292, data_dir: '/var/lib/nova-bm/images' },
  rack: { listen_address: '127.0.0.1', port: 9180 },
  glance: { api_servers: ['http://127.0.0.1:9292'] },
  oslo_messaging_rabbit: {
    rabbit_qos_prefetch_count: 128,
    ssl: false,
    ssl_ca_file: '',
    ssl_cert_file: '',
    ssl_key_file: '',
    ssl_version: '',
  },
  oslo_messaging_notifications: { driver: ['messagingv2'], topics: ['notifications'] },
};

describe('[images] and [glance]', () => {
  it('reads the API address, port, data directory and the image service URLs', () => {
    const c = loadConfigFromText(
      '[images]\napi_port = 19292\ndata_dir = /srv/images\n' +
        '[glance]\napi_servers = 10.0.0.5:9292, https://img.example/\n',
      { env: { BM_API_LISTEN_ADDRESS: '0.0.0.0' } },
    );
    expect(c.images).toEqual({ api_listen_address: '0.0.0.0', api_port: 19292, data_dir: '/srv/images' });
    expect(c.glance.api_servers).toEqual(['http://10.0.0.5:9292', 'https://img.example']);
    expect(c.warnings).toEqual([]);
  });

  it("accepts Icehouse's [DEFAULT] glance_api_servers with a warning, and names bad values", () => {
    const c = loadConfigFromText('[DEFAULT]\nglance_api_servers = 127.0.0.1:9393\n', { env: {} });
    expect(c.glance.api_servers).toEqual(['http://127.0.0.1:9393']);
    expect(c.warnings.map(String).join('\n')).toContain('deprecated name: use api_servers in [glance]');
    expect(() =>
      loadConfigFromText('[images]\ndata_dir = images\napi_port = 0\n[glance]\napi_servers = ftp://x\n', { env: {} }),
    ).toThrow(/data_dir.*not an absolute path[\s\S]*api_port[\s\S]*ftp:\/\/x.*not an http/);
  });
});

describe('[netboot]', () => {
  it('reads the DHCP range, mode and ports, and names bad values', () => {
    const c = loadConfigFromText(
      '[netboot]\ndhcp_range = 10.77.0.100, 10.77.0.199\ndhcp_mode = Proxy\ndhcp_port = 1067\n',
      { env: {} },
    );
    expect(c.netboot).toMatchObject({
      dhcp_range: { first: '10.77.0.100', last: '10.77.0.199' },
      dhcp_mode: 'proxy',
      dhcp_port: 1067,
    });
    expect(() =>
      loadConfigFromText('[netboot]\ndhcp_range = 10.77.0.200,10.77.0.100\ndhcp_mode = relay\n', {
        file: 'n.conf',
        env: {},
      }),
    ).toThrow(
      /n\.conf:2: \[netboot\] dhcp_range: '10\.77\.0\.200,10\.77\.0\.100': the first address is above the last[\s\S]*n\.conf:3: \[netboot\] dhcp_mode: 'relay' is not one of full, proxy, off/,
    );
    expect(loadConfigFromText('', { env: { BM_DHCP_ROUTER: '10.77.0.1' } }).netboot.dhcp_router).toBe('10.77.0.1');
  });
});

describe('loadConfig with the seed excerpts', () => {
  it('loads the vegas-lab nova.conf completely', () => {
    const config = loadConfig({ configFile: VEGAS_LAB, env: {} });
    expect(config.default).toEqual({
      ...DEFAULTS.default,
      my_ip: '10.10.44.16',
      compute_driver: 'baremetal',
      firewall_driver: 'nova.virt.firewall.NoopFirewallDriver',
      scheduler_host_manager: 'baremetal',
      ram_allocation_ratio: 1.0,
      reserved_host_memory_mb: 0,
      dhcp_options_enabled: true,
    });
    expect(config.baremetal).toEqual({
      ...DEFAULTS.baremetal,
      sql_connection: 'postgresql://nova_bm:password@192.168.198.10/nova_bm',
      driver: 'pxe',
      power_manager: 'native',
      instance_type_extra_specs: { cpu_arch: 'x86_64' },
      tftp_root: '/tftpboot',
      terminal: '/usr/local/bin/shellinaboxd',
      pxe_bootfile_name: 'pxelinux.0',
      baremetal_type: 'baremetal',
      pxe_interface: 'eth3',
    });
    expect(config.sources).toEqual({ files: [VEGAS_LAB] });
    expect(warningLines(config)).toEqual([`${VEGAS_LAB}:29: [baremetal] type: unknown option, ignored`]);
  });

  it('rejects nova sample nova.conf with exactly one problem: the MySQL sql_connection', () => {
    const error = configError(() => loadConfig({ configFile: SAMPLE, env: {} }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: SAMPLE, line: 2, group: 'baremetal', option: 'sql_connection' });
    expect(error.problems[0].message).toContain('mysql:// is not supported yet');
    expect(error.message).toContain(`${SAMPLE}:2: [baremetal] sql_connection: mysql:// is not supported yet`);
    expect(error.message).toContain('postgresql://USER:PASSWORD@HOST[:PORT]/nova_bm');
    expect(error.message).not.toContain('$Password');
  });

  it('loads nova sample nova.conf once DATABASE_URL points at PostgreSQL, with warnings', () => {
    const config = loadConfig({
      configFile: SAMPLE,
      env: { DATABASE_URL: 'postgresql://bm:s3cret@db.example/nova_bm' },
    });
    expect(config.default.compute_driver).toBe('baremetal');
    expect(config.default.scheduler_host_manager).toBe('baremetal');
    expect(config.baremetal).toMatchObject({
      sql_connection: 'postgresql://bm:s3cret@db.example/nova_bm',
      driver: 'pxe',
      power_manager: 'native',
      instance_type_extra_specs: { cpu_arch: 'x86_64' },
      tftp_root: '/tftpboot',
      net_config_template: '/opt/stack/nova/virt/baremetal/net-static.ubuntu.template',
      deploy_kernel: 'xxxxxxxxxx',
      deploy_ramdisk: 'yyyyyyyy',
    });
    expect(warningLines(config)).toEqual([
      `${SAMPLE}:1: every line of the file is indented: read as if it were not (oslo.config would refuse it: a line starting with whitespace continues the value above it)`,
      `${SAMPLE}:3: [baremetal] compute_driver: belongs in [DEFAULT]; accepted in [baremetal] for compatibility`,
      `${SAMPLE}:4: [baremetal] baremetal_driver: deprecated name: use driver in [baremetal]`,
      `${SAMPLE}:5: [baremetal] power_manager: 'nova.virt.baremetal.ipmi.Ipmi' is accepted, but the right spelling is nova.virt.baremetal.ipmi.IPMI`,
      `${SAMPLE}:7: [baremetal] baremetal_tftp_root: deprecated name: use tftp_root in [baremetal]`,
      `${SAMPLE}:8: [baremetal] scheduler_host_manager: belongs in [DEFAULT]; accepted in [baremetal] for compatibility`,
      `${SAMPLE}:10: [baremetal] baremetal_deploy_kernel: deprecated name: use deploy_kernel in [baremetal]`,
      `${SAMPLE}:11: [baremetal] baremetal_deploy_ramdisk: deprecated name: use deploy_ramdisk in [baremetal]`,
    ]);
  });
});

describe('loadConfig basics', () => {
  it('uses the defaults when there is no file and no environment', () => {
    const config = loadConfig({ env: {} });
    expect(config).toEqual({ ...DEFAULTS, sources: { files: [] }, warnings: [] });
  });

  it('returns a deeply frozen object', () => {
    const config = load('[baremetal]\ninstance_type_extra_specs = cpu_arch:x86_64\nbogus = 1\n');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.default)).toBe(true);
    expect(Object.isFrozen(config.baremetal)).toBe(true);
    expect(Object.isFrozen(config.baremetal.instance_type_extra_specs)).toBe(true);
    expect(Object.isFrozen(config.sources)).toBe(true);
    expect(Object.isFrozen(config.warnings)).toBe(true);
    expect(Object.isFrozen(config.warnings[0])).toBe(true);
  });

  it('reads the file named by BM_CONFIG_FILE', () => {
    const config = loadConfig({ env: { BM_CONFIG_FILE: VEGAS_LAB } });
    expect(config.sources.files).toEqual([VEGAS_LAB]);
    expect(config.default.my_ip).toBe('10.10.44.16');
  });

  it('prefers opts.configFile over BM_CONFIG_FILE', () => {
    const config = loadConfig({ configFile: VEGAS_LAB, env: { BM_CONFIG_FILE: '/nonexistent/nova.conf' } });
    expect(config.sources.files).toEqual([VEGAS_LAB]);
  });

  it('reports a missing config file by path', () => {
    const error = configError(() => loadConfig({ configFile: '/nonexistent/nova.conf', env: {} }));
    expect(error.problems).toEqual([{ file: '/nonexistent/nova.conf', message: 'config file not found' }]);
    expect(error.message).toContain('/nonexistent/nova.conf: config file not found');
  });

  it('says when a missing config file came from BM_CONFIG_FILE', () => {
    const error = configError(() => loadConfig({ env: { BM_CONFIG_FILE: '/nonexistent/nova.conf' } }));
    expect(error.message).toContain('/nonexistent/nova.conf: config file not found (from BM_CONFIG_FILE)');
  });

  it('accepts quoted values', () => {
    const config = load(
      `[baremetal]\npxe_append_params = "nofb nomodeset"\nterminal_cert_dir = ''\npxe_interface='eth0'\n`,
    );
    expect(config.baremetal).toMatchObject({
      pxe_append_params: 'nofb nomodeset',
      terminal_cert_dir: '',
      pxe_interface: 'eth0',
    });
  });

  it.each([
    ['true', true],
    ['False', false],
    ['YES', true],
    ['no', false],
    ['on', true],
    ['Off', false],
    ['1', true],
    ['0', false],
  ])('reads boolean %p', (raw, value) => {
    expect(load(`use_ipv6 = ${raw}\n`).default.use_ipv6).toBe(value);
  });

  it('maps class paths and short names onto our implementations', () => {
    const power = (raw: string) => load(`[baremetal]\npower_manager = ${raw}\n`).baremetal.power_manager;
    expect(power('nova.virt.baremetal.ipmi.IPMI')).toBe('native');
    expect(power('ipmi')).toBe('native');
    expect(power('native')).toBe('native');
    expect(power('ipmitool')).toBe('ipmitool');
    expect(power('nova.virt.baremetal.fake.FakePowerManager')).toBe('fake');
    expect(power('fake')).toBe('fake');
    expect(load('compute_driver = baremetal.BareMetalDriver\n').default.compute_driver).toBe('baremetal');
    expect(load('scheduler_host_manager = baremetal\n').default.scheduler_host_manager).toBe('baremetal');
    expect(load('[baremetal]\ndriver = pxe\n').baremetal.driver).toBe('pxe');
  });

  it('parses extra specs into a record, splitting on the first colon', () => {
    const config = load('[baremetal]\ninstance_type_extra_specs = cpu_arch:x86_64, foo : a:b ,\n');
    expect(config.baremetal.instance_type_extra_specs).toEqual({ cpu_arch: 'x86_64', foo: 'a:b' });
  });

  it('accepts flavor_extra_specs as the new name of instance_type_extra_specs, silently', () => {
    const config = load('[baremetal]\nflavor_extra_specs = cpu_arch:i686\n');
    expect(config.baremetal.instance_type_extra_specs).toEqual({ cpu_arch: 'i686' });
    expect(config.warnings).toEqual([]);
  });
});

describe('invalid values', () => {
  it.each([
    ['reserved_host_memory_mb = abc', 'DEFAULT', 'reserved_host_memory_mb', "'abc' is not an integer"],
    ['reserved_host_memory_mb = 1.5', 'DEFAULT', 'reserved_host_memory_mb', "'1.5' is not an integer"],
    ['reserved_host_memory_mb = -1', 'DEFAULT', 'reserved_host_memory_mb', 'must be >= 0 (got -1)'],
    ['periodic_interval = 0', 'DEFAULT', 'periodic_interval', 'must be >= 1 (got 0)'],
    ['health_port = 70000', 'DEFAULT', 'health_port', 'must be between 0 and 65535 (got 70000)'],
    ['ram_allocation_ratio = lots', 'DEFAULT', 'ram_allocation_ratio', "'lots' is not a number"],
    ['ram_allocation_ratio = 0', 'DEFAULT', 'ram_allocation_ratio', 'must be > 0'],
    ['ram_allocation_ratio = -1.5', 'DEFAULT', 'ram_allocation_ratio', 'must be > 0'],
    ['dhcp_options_enabled = maybe', 'DEFAULT', 'dhcp_options_enabled', "'maybe' is not a boolean"],
    ['my_ip = 10.1.2', 'DEFAULT', 'my_ip', "'10.1.2' is not an IPv4 address"],
    ['my_ip = fe80::1', 'DEFAULT', 'my_ip', "'fe80::1' is not an IPv4 address"],
    ['host =', 'DEFAULT', 'host', 'must not be empty'],
    [
      'transport_url = http://guest:pw@broker/',
      'DEFAULT',
      'transport_url',
      "'http://guest:****@broker/' is not a rabbit://, amqp:// or amqps:// URL",
    ],
    ['transport_url = rabbit:nohost', 'DEFAULT', 'transport_url', "'rabbit:nohost' has no host"],
    ['transport_url = broker:5672', 'DEFAULT', 'transport_url', 'is not a rabbit://, amqp:// or amqps:// URL'],
    ['compute_driver = libvirt.LibvirtDriver', 'DEFAULT', 'compute_driver', 'only the baremetal driver is provided'],
    [
      'scheduler_host_manager = nova.scheduler.host_manager.HostManager',
      'DEFAULT',
      'scheduler_host_manager',
      'only the baremetal host manager is provided',
    ],
    [
      '[baremetal]\ndriver = nova.virt.baremetal.tilera.Tilera',
      'baremetal',
      'driver',
      "'nova.virt.baremetal.tilera.Tilera' is not supported",
    ],
    [
      '[baremetal]\npower_manager = nova.virt.baremetal.tilera_pdu.Pdu',
      'baremetal',
      'power_manager',
      'is not supported',
    ],
    ['[baremetal]\nipmi_power_retry = -1', 'baremetal', 'ipmi_power_retry', 'must be >= 0 (got -1)'],
    ['[baremetal]\npxe_deploy_timeout = -5', 'baremetal', 'pxe_deploy_timeout', 'must be >= 0 (got -5)'],
    ['[baremetal]\nuse_unsafe_iscsi = 2', 'baremetal', 'use_unsafe_iscsi', "'2' is not a boolean"],
    [
      '[baremetal]\ninstance_type_extra_specs = cpu_arch',
      'baremetal',
      'instance_type_extra_specs',
      "'cpu_arch' is not a key:value pair",
    ],
    [
      '[baremetal]\ninstance_type_extra_specs = a:b, :x',
      'baremetal',
      'instance_type_extra_specs',
      "':x' has an empty key",
    ],
    ['[baremetal]\ntftp_root = tftpboot', 'baremetal', 'tftp_root', "'tftpboot' is not an absolute path"],
    [
      '[baremetal]\nsql_connection = sqlite:///nova_bm.sqlite',
      'baremetal',
      'sql_connection',
      'sqlite:// is not supported',
    ],
    [
      '[baremetal]\nsql_connection = mysql+pymysql://u:pw@h/nova_bm',
      'baremetal',
      'sql_connection',
      'mysql+pymysql:// is not supported yet',
    ],
    [
      '[baremetal]\nsql_connection = oracle://u:pw@h/nova_bm',
      'baremetal',
      'sql_connection',
      'oracle:// is not supported',
    ],
    ['[baremetal]\nsql_connection = nova_bm', 'baremetal', 'sql_connection', "'nova_bm' is not a URL"],
    [
      '[baremetal]\nsql_connection = postgresql://u:pw@h',
      'baremetal',
      'sql_connection',
      "'postgresql://u:****@h' names no database",
    ],
    ['[baremetal]\nsql_connection = postgresql:///nova_bm', 'baremetal', 'sql_connection', 'has no host'],
    [
      '[baremetal]\nsql_connection = postgresql://u:pw@[bad/nova_bm',
      'baremetal',
      'sql_connection',
      'is not a valid URL',
    ],
  ])('%s', (text, group, option, why) => {
    const found = problems(() => load(`${text}\n`));
    expect(found).toHaveLength(1);
    const line = text.split('\n').length;
    expect(found[0]).toMatchObject({ file: 't.conf', line, group, option });
    expect(found[0].message).toContain(why);
    expect(String(found[0])).toMatch(new RegExp(`^t\\.conf:${line}: \\[${group}\\] ${option}: `));
    expect(found[0].message).not.toContain(':pw@');
  });

  it('collects every problem, parse errors included, into one error', () => {
    const text = 'my_ip = 10.1.2\nnonsense\n[baremetal]\nipmi_power_retry = x\ntftp_root = tftpboot\n';
    const error = configError(() => load(text));
    expect(error.problems.map(String)).toEqual([
      "t.conf:1: [DEFAULT] my_ip: '10.1.2' is not an IPv4 address",
      "t.conf:2: expected 'key = value', '[section]' or a comment",
      "t.conf:4: [baremetal] ipmi_power_retry: 'x' is not an integer",
      "t.conf:5: [baremetal] tftp_root: 'tftpboot' is not an absolute path",
    ]);
    expect(error.message).toBe(
      `invalid nova-bm configuration (4 problems):\n${error.problems.map((p) => `  ${String(p)}`).join('\n')}`,
    );
    expect(error.name).toBe('ConfigError');
    expect(error).toBeInstanceOf(Error);
  });
});

describe('environment variables', () => {
  it('override the file', () => {
    const config = load('my_ip = 10.0.0.1\n[baremetal]\ntftp_root = /srv/tftp\nipmi_power_retry = 3\n', {
      BM_MY_IP: '10.0.0.2',
      BM_TFTP_ROOT: '/var/tftp',
      BM_USE_IPV6: 'yes',
    });
    expect(config.default.my_ip).toBe('10.0.0.2');
    expect(config.default.use_ipv6).toBe(true);
    expect(config.baremetal.tftp_root).toBe('/var/tftp');
    expect(config.baremetal.ipmi_power_retry).toBe(3);
  });

  it('ignore empty values', () => {
    expect(load('my_ip = 10.0.0.1\n', { BM_MY_IP: '' }).default.my_ip).toBe('10.0.0.1');
  });

  it('report bad values by variable name', () => {
    const found = problems(() => load('', { BM_MY_IP: '10.1.2', BM_PERIODIC_INTERVAL: '0' }));
    expect(found.map(String)).toEqual([
      "environment BM_MY_IP: [DEFAULT] my_ip: '10.1.2' is not an IPv4 address",
      'environment BM_PERIODIC_INTERVAL: [DEFAULT] periodic_interval: must be >= 1 (got 0)',
    ]);
    expect(found[0]).toMatchObject({ env: 'BM_MY_IP', group: 'DEFAULT', option: 'my_ip' });
  });

  it('accept DATABASE_URL for sql_connection, with BM_SQL_CONNECTION winning', () => {
    const file = '[baremetal]\nsql_connection = postgresql://file@h/nova_bm\n';
    expect(load(file, { DATABASE_URL: 'postgres://alias@h/nova_bm' }).baremetal.sql_connection).toBe(
      'postgres://alias@h/nova_bm',
    );
    const both = { DATABASE_URL: 'postgres://alias@h/nova_bm', BM_SQL_CONNECTION: 'postgresql://bm@h/nova_bm' };
    expect(load(file, both).baremetal.sql_connection).toBe('postgresql://bm@h/nova_bm');
  });

  it('accept TRANSPORT_URL for transport_url, with BM_TRANSPORT_URL winning', () => {
    expect(load('', { TRANSPORT_URL: 'amqp://u:p@mq:5672/' }).default.transport_url).toBe('amqp://u:p@mq:5672/');
    const both = { TRANSPORT_URL: 'amqp://u:p@mq:5672/', BM_TRANSPORT_URL: 'rabbit://u:p@other/' };
    expect(load('', both).default.transport_url).toBe('rabbit://u:p@other/');
  });

  it('never echo a password from DATABASE_URL', () => {
    const error = configError(() => load('', { DATABASE_URL: 'mysql://nova:hunter2@db/nova_bm' }));
    expect(error.problems).toHaveLength(1);
    expect(String(error.problems[0])).toMatch(
      /^environment DATABASE_URL: \[baremetal\] sql_connection: mysql:\/\/ is not supported yet/,
    );
    expect(error.message).not.toContain('hunter2');
    const invalid = configError(() => load('', { DATABASE_URL: 'postgresql://nova:hunter2@db' }));
    expect(invalid.message).toContain('postgresql://nova:****@db');
    expect(invalid.message).not.toContain('hunter2');
  });
});

describe('option names and places', () => {
  it('accepts deprecated names in [baremetal] and in [DEFAULT], with a warning', () => {
    const config = load(
      'baremetal_sql_connection = postgresql://old@h/nova_bm\nbaremetal_driver = pxe\n' +
        '[baremetal]\nbaremetal_tftp_root = /srv/tftp\nbaremetal_deploy_kernel = k1\n',
    );
    expect(config.baremetal).toMatchObject({
      sql_connection: 'postgresql://old@h/nova_bm',
      driver: 'pxe',
      tftp_root: '/srv/tftp',
      deploy_kernel: 'k1',
    });
    expect(warningLines(config)).toEqual([
      't.conf:1: [DEFAULT] baremetal_sql_connection: deprecated name: use sql_connection in [baremetal]',
      't.conf:2: [DEFAULT] baremetal_driver: deprecated name: use driver in [baremetal]',
      't.conf:4: [baremetal] baremetal_tftp_root: deprecated name: use tftp_root in [baremetal]',
      't.conf:5: [baremetal] baremetal_deploy_kernel: deprecated name: use deploy_kernel in [baremetal]',
    ]);
  });

  it('prefers the current name over a deprecated one and says so', () => {
    const config = load('[baremetal]\nbaremetal_tftp_root = /old\ntftp_root = /new\n');
    expect(config.baremetal.tftp_root).toBe('/new');
    expect(warningLines(config)).toEqual([
      't.conf:2: [baremetal] baremetal_tftp_root: ignored: [baremetal] tftp_root (line 3) takes precedence',
    ]);
  });

  it('names the deprecated spelling when its value is bad', () => {
    expect(problems(() => load('[baremetal]\nbaremetal_tftp_root = tftpboot\n')).map(String)).toEqual([
      "t.conf:2: [baremetal] baremetal_tftp_root: 'tftpboot' is not an absolute path",
    ]);
  });

  it('accepts [DEFAULT] options in [baremetal] with a warning, [DEFAULT] winning', () => {
    const config = load('[baremetal]\nmy_ip = 10.0.0.9\nhost = bm-1\n[DEFAULT]\nhost = bm-2\n');
    expect(config.default).toMatchObject({ my_ip: '10.0.0.9', host: 'bm-2' });
    expect(warningLines(config)).toEqual([
      't.conf:2: [baremetal] my_ip: belongs in [DEFAULT]; accepted in [baremetal] for compatibility',
      't.conf:3: [baremetal] host: ignored: [DEFAULT] host (line 5) takes precedence',
    ]);
  });

  it('does not apply [baremetal] options found in [DEFAULT]', () => {
    const config = load('tftp_root = /srv/tftp\n');
    expect(config.baremetal.tftp_root).toBe('/tftpboot');
    expect(warningLines(config)).toEqual([
      't.conf:1: [DEFAULT] tftp_root: unknown option in [DEFAULT], ignored: move it to [baremetal]',
    ]);
  });

  it('warns about unknown options and sections with their lines', () => {
    const config = load(
      'verbose = true\n[baremetal]\ntype = baremetal\n[database]\nconnection = x\n[BAREMETAL]\ndriver = pxe\n',
    );
    expect(warningLines(config)).toEqual([
      't.conf:1: [DEFAULT] verbose: unknown option, ignored',
      't.conf:3: [baremetal] type: unknown option, ignored',
      't.conf:4: [database]: unknown section, ignored',
      't.conf:6: [BAREMETAL]: unknown section, ignored (section names are case-sensitive: did you mean [baremetal]?)',
    ]);
  });

  it('warns about a repeated key and keeps the last value', () => {
    const config = load('[baremetal]\nipmi_power_retry = 1\nipmi_power_retry = 2\n');
    expect(config.baremetal.ipmi_power_retry).toBe(2);
    expect(warningLines(config)).toEqual([
      't.conf:3: [baremetal] ipmi_power_retry: set again (first set at line 2); the last value wins',
    ]);
  });

  it('accepts a case-only mismatch in a class path with a warning naming the right spelling', () => {
    const config = load(
      'compute_driver = nova.virt.baremetal.driver.baremetaldriver\n[baremetal]\ndriver = nova.virt.baremetal.pxe.Pxe\n',
    );
    expect(config.default.compute_driver).toBe('baremetal');
    expect(config.baremetal.driver).toBe('pxe');
    expect(warningLines(config)).toEqual([
      "t.conf:1: [DEFAULT] compute_driver: 'nova.virt.baremetal.driver.baremetaldriver' is accepted, but the right spelling is nova.virt.baremetal.driver.BareMetalDriver",
      "t.conf:3: [baremetal] driver: 'nova.virt.baremetal.pxe.Pxe' is accepted, but the right spelling is nova.virt.baremetal.pxe.PXE",
    ]);
  });

  it('warns about a repeated extra spec key', () => {
    const config = load('[baremetal]\ninstance_type_extra_specs = a:1,a:2\n');
    expect(config.baremetal.instance_type_extra_specs).toEqual({ a: '2' });
    expect(warningLines(config)).toEqual([
      "t.conf:2: [baremetal] instance_type_extra_specs: key 'a' is given twice; the last value wins",
    ]);
  });
});

describe('durations and the bus', () => {
  it('refuses a duration longer than a Node timer holds (3000000 s overflowed into 1 ms)', () => {
    expect(problems(() => load('[DEFAULT]\nrpc_response_timeout = 3000000\n'))).toEqual([
      expect.objectContaining({
        option: 'rpc_response_timeout',
        message: '3000000 s is longer than a timer can wait: at most 2147483 s (about 24.8 days)',
      }),
    ]);
  });

  it('bounds every interval, timeout and poll, from the file and the environment', () => {
    const options = [
      ['DEFAULT', 'periodic_interval'],
      ['DEFAULT', 'rpc_response_timeout'],
      ['baremetal', 'deploy_poll_interval'],
      ['baremetal', 'pxe_deploy_timeout'],
      ['baremetal', 'power_sync_interval'],
      ['baremetal', 'ipmi_deadline'],
    ];
    for (const [group, option] of options) {
      expect(problems(() => load(`[${group}]\n${option} = 2147484\n`))).toHaveLength(1);
      expect(load(`[${group}]\n${option} = 2147483\n`)).toBeDefined();
    }
    expect(() => loadConfig({ env: { BM_PERIODIC_INTERVAL: '99999999999' } })).toThrow(/longer than a timer can wait/);
  });

  it('reads [oslo_messaging_rabbit] and [oslo_messaging_notifications] as oslo names them', () => {
    const c = load(
      [
        '[DEFAULT]',
        'executor_thread_pool_size = 8',
        '[oslo_messaging_rabbit]',
        'rabbit_qos_prefetch_count = 16',
        '[oslo_messaging_notifications]',
        'driver = log, noop',
        'topics = notifications, monitor',
      ].join('\n'),
    );
    expect(c.warnings).toEqual([]);
    expect(c.default.executor_thread_pool_size).toBe(8);
    expect(c.oslo_messaging_rabbit.rabbit_qos_prefetch_count).toBe(16);
    expect(c.oslo_messaging_notifications).toEqual({ driver: ['log', 'noop'], topics: ['notifications', 'monitor'] });
    // BM_DRIVER is the [baremetal] driver; the notification driver has a variable of its own.
    const env = loadConfig({ env: { BM_NOTIFICATION_DRIVER: 'log', BM_DRIVER: 'pxe' } });
    expect([env.oslo_messaging_notifications.driver, env.baremetal.driver]).toEqual([['log'], 'pxe']);
    // An empty driver is oslo's default: no notifications.
    expect(load('[oslo_messaging_notifications]\ndriver =\n').oslo_messaging_notifications.driver).toEqual([]);
    expect(problems(() => load('[oslo_messaging_notifications]\ndriver = routing\n'))).toEqual([
      expect.objectContaining({
        option: 'driver',
        message: "'routing' is not one of messagingv2, messaging, log, noop",
      }),
    ]);
  });
});

describe('configPathsFromArgv', () => {
  const file = (path: string) => ({ kind: 'file', path });
  const dir = (path: string) => ({ kind: 'dir', path });
  it.each([
    [['node', 'main.js'], []],
    [['node', 'main.js', '--config-file', '/etc/nova/nova.conf'], [file('/etc/nova/nova.conf')]],
    [['node', 'main.js', '--config-file=/etc/nova/nova.conf', 'serve'], [file('/etc/nova/nova.conf')]],
    [
      ['--config-file=/a.conf', '--config-dir', '/d', '--config-file', '/b.conf', '--config-dir=/e'],
      [file('/a.conf'), dir('/d'), file('/b.conf'), dir('/e')],
    ],
    [['--config-file=/a.conf', '--', '--config-file=/b.conf'], [file('/a.conf')]],
  ])('%j → %j', (argv, expected) => {
    expect(configPathsFromArgv(argv)).toEqual(expected);
  });

  it.each([
    [['--config-file'], '--config-file'],
    [['--config-file='], '--config-file'],
    [['--config-file', '--verbose'], '--config-file'],
    [['--config-dir'], '--config-dir'],
    [['--config-dir='], '--config-dir'],
  ])('rejects %j', (argv, flag) => {
    expect(() => configPathsFromArgv(argv)).toThrow(`${flag}: needs a path`);
  });
});

describe('broker security options', () => {
  it("reads oslo's [oslo_messaging_rabbit] ssl options, and accepts amqps:// and cluster transport URLs", () => {
    const c = load(
      [
        '[DEFAULT]',
        'transport_url = rabbit://u:p@mq1:5671,u2:p2@mq2:5671/nova?ssl=1',
        '[oslo_messaging_rabbit]',
        'ssl = true',
        'ssl_ca_file = /etc/nova-bm/ca.pem',
        'ssl_cert_file = /etc/nova-bm/client.pem',
        'ssl_key_file = /etc/nova-bm/client.key',
        'ssl_version = TLSv1_2',
      ].join('\n'),
    );
    expect(c.warnings).toEqual([]);
    expect(c.oslo_messaging_rabbit).toMatchObject({
      ssl: true,
      ssl_ca_file: '/etc/nova-bm/ca.pem',
      ssl_cert_file: '/etc/nova-bm/client.pem',
      ssl_key_file: '/etc/nova-bm/client.key',
      ssl_version: 'tlsv1_2',
    });
    expect(load('transport_url = amqps://u:p@mq/').default.transport_url).toBe('amqps://u:p@mq/');
    expect(loadConfig({ env: { BM_RABBIT_SSL: 'true' } }).oslo_messaging_rabbit.ssl).toBe(true);
    expect(problems(() => load('[oslo_messaging_rabbit]\nssl_version = SSLv3\nssl_ca_file = ca.pem\n'))).toEqual([
      expect.objectContaining({ option: 'ssl_version' }),
      expect.objectContaining({ option: 'ssl_ca_file' }),
    ]);
  });

  it('reads the RPC authorisation options; a bad sender pattern is a config error', () => {
    const c = load(
      [
        'rpc_admin_role = operator',
        'rpc_check_sender = true',
        'rpc_host_user_prefix = cn-',
        'rpc_host_users = cluster-a:host1, cluster-b:host2',
        'rpc_admin_senders = ^(cn-.+|bmctl)$',
      ].join('\n'),
    );
    expect(c.default).toMatchObject({
      rpc_admin_role: 'operator',
      rpc_check_sender: true,
      rpc_host_user_prefix: 'cn-',
      rpc_host_users: { 'cluster-a': 'host1', 'cluster-b': 'host2' },
      rpc_admin_senders: '^(cn-.+|bmctl)$',
    });
    expect(problems(() => load('rpc_admin_senders = ^(compute\n'))).toEqual([
      expect.objectContaining({
        option: 'rpc_admin_senders',
        message: expect.stringMatching(/is not a regular expression/),
      }),
    ]);
  });
});
