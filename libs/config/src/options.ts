import { hostname } from 'node:os';
import { redactUrl } from './redact';
import {
  absolutePath,
  boolean,
  choiceList,
  classPath,
  floatAbove,
  integer,
  ipv4,
  show,
  keyValueList,
  nonEmptyString,
  oneOf,
  queueName,
  optionalAbsolutePath,
  optionalIpv4,
  ipv4Range,
  nameList,
  seconds,
  sqlConnection,
  string,
  transportUrl,
  regularExpression,
  InvalidValue,
  ValueType,
} from './value-types';
import { logDateFormat, optionalPath, syslogFacility } from './log-value-types';

export type OptionGroup =
  | 'DEFAULT'
  | 'baremetal'
  | 'netboot'
  | 'deploy_helper'
  | 'images'
  | 'rack'
  | 'glance'
  | 'oslo_messaging_rabbit'
  | 'oslo_messaging_notifications';
/** The groups a config file may hold. */
export const OPTION_GROUPS: readonly OptionGroup[] = [
  'DEFAULT',
  'baremetal',
  'netboot',
  'deploy_helper',
  'images',
  'rack',
  'glance',
  'oslo_messaging_rabbit',
  'oslo_messaging_notifications',
];

/** `native`: our own IPMI 2.0 client; `ipmitool`: shell out like nova did; `fake`: always succeeds. */
export type PowerManagerKind = 'native' | 'ipmitool' | 'fake';
export type ComputeDriverKind = 'baremetal';
export type HostManagerKind = 'baremetal';
export type NodeDriverKind = 'pxe';

/** `[DEFAULT]` options; field names are the nova.conf option names. */
export interface DefaultOptions {
  /** oslo.log's `debug`: log at DEBUG level too (each scheduling decision, for one). */
  readonly debug: boolean;
  /** oslo.log's: the log file ('' = none: stdout/stderr); relative to log_dir when that is set. */
  readonly log_file: string;
  /** oslo.log's: the log files' directory; alone, the file is `<log_dir>/<service>.log`. */
  readonly log_dir: string;
  /** oslo.log's: one JSON object per line (oslo's JSONFormatter) instead of text. */
  readonly use_json: boolean;
  /** oslo.log's: log to syslog (the local /dev/log) too. */
  readonly use_syslog: boolean;
  /** oslo.log's: the syslog facility, a Python `syslog.LOG_*` name. */
  readonly syslog_log_facility: string;
  /** oslo.log's: strftime format of the log lines' time (%(asctime)s). */
  readonly log_date_format: string;
  /** oslo.log's: log to standard error (as well as the file, if any). */
  readonly use_stderr: boolean;
  readonly host: string;
  readonly my_ip: string;
  readonly compute_driver: ComputeDriverKind;
  readonly firewall_driver: string;
  readonly scheduler_host_manager: HostManagerKind;
  /** How many nodes one boot request may try before NoValidHost (Nova's scheduler_max_attempts). */
  readonly scheduler_max_attempts: number;
  /** `exact`: flavor == node (Nova's exact filters); `at-least`: the smallest node that fits. */
  readonly scheduler_match_policy: 'exact' | 'at-least';
  readonly ram_allocation_ratio: number;
  readonly reserved_host_memory_mb: number;
  readonly dhcp_options_enabled: boolean;
  readonly transport_url: string;
  readonly control_exchange: string;
  /** Seconds. */
  readonly periodic_interval: number;
  /** Seconds an RPC call waits for its reply (oslo's rpc_response_timeout). */
  readonly rpc_response_timeout: number;
  /** oslo's rpc_ping_enabled: every RPC server answers `oslo_rpc_server_ping` with "pong". */
  readonly rpc_ping_enabled: boolean;
  /** oslo's executor_thread_pool_size: RPC requests one server runs at once. */
  readonly executor_thread_pool_size: number;
  /** RabbitMQ management API (for `bmctl queues`); '' = http://<broker host>:15672 with the transport's credentials. */
  readonly rabbit_management_url: string;
  /** The role a request context needs for destructive RPC methods (Nova's admin); '' = no check. */
  readonly rpc_admin_role: string;
  /** Refuse capability reports whose AMQP user_id may not speak for their host. */
  readonly rpc_check_sender: boolean;
  /** Broker user `<prefix><host>` speaks for `<host>`. */
  readonly rpc_host_user_prefix: string;
  /** More broker users and the host each speaks for. */
  readonly rpc_host_users: Readonly<Record<string, string>>;
  /** With rpc_check_sender: the broker users (a regular expression) the destructive methods serve. */
  readonly rpc_admin_senders: string;
  readonly instances_path: string;
  readonly state_path: string;
  /** Address the health/metrics HTTP server binds (/healthz, /metrics). */
  readonly health_host: string;
  /** 0 = the app's own default port. */
  readonly health_port: number;
  readonly use_ipv6: boolean;
  /** oslo.service's: seconds a SIGTERM waits for running RPC requests before exiting; 0 = no limit. */
  readonly graceful_shutdown_timeout: number;
}

/** `[baremetal]` options; field names are the nova.conf option names. */
export interface BaremetalOptions {
  readonly sql_connection: string;
  /** Seconds to get a database connection (a new one, or one from the pool) before failing. */
  readonly sql_connect_timeout: number;
  /** Seconds one SQL statement (or an idle transaction) may take before PostgreSQL cancels it; 0 = no limit. */
  readonly sql_statement_timeout: number;
  /** A file holding the key (base64, 32 bytes) that encrypts the BMC passwords in nova_bm; '' = none. */
  readonly pm_password_key_file: string;
  readonly driver: NodeDriverKind;
  readonly power_manager: PowerManagerKind;
  readonly instance_type_extra_specs: Readonly<Record<string, string>>;
  readonly tftp_root: string;
  readonly terminal: string;
  readonly terminal_cert_dir: string;
  readonly terminal_pid_dir: string;
  readonly pxe_bootfile_name: string;
  readonly pxe_append_params: string;
  readonly net_config_template: string;
  readonly deploy_kernel: string;
  readonly deploy_ramdisk: string;
  readonly pxe_interface: string;
  readonly baremetal_type: string;
  /** Seconds compute waits in each of prepared and deploying; 0 = no limit (compatibility, warned). */
  readonly pxe_deploy_timeout: number;
  /** Seconds between reads of a deploying node's row when no deploy event comes. */
  readonly deploy_poll_interval: number;
  readonly pxe_network_config: boolean;
  readonly use_file_injection: boolean;
  readonly ipmi_power_retry: number;
  /** Seconds between power-state sweeps of this host's nodes; 0 = no sync. */
  readonly power_sync_interval: number;
  /** Report to a Nova conductor as nova-compute does (its `services` record). */
  readonly nova_conductor: boolean;
  /** Seconds between those reports (Nova's `[DEFAULT] report_interval`). */
  readonly report_interval: number;
  /** Seconds one BMC call may take, retransmissions and session setup included. */
  readonly ipmi_deadline: number;
  readonly use_unsafe_iscsi: boolean;
  readonly iscsi_iqn_prefix: string;
  readonly vif_driver: string;
  readonly volume_driver: string;
  readonly db_backend: string;
}

/** `[netboot]` options (ours): the DHCP (PXE) and TFTP servers of the netboot service. */
export interface NetbootOptions {
  readonly dhcp_mode: 'full' | 'proxy' | 'off';
  readonly dhcp_range: { readonly first: string; readonly last: string } | null;
  readonly dhcp_netmask: string;
  readonly dhcp_router: string;
  /** Seconds. */
  readonly dhcp_lease_time: number;
  readonly uefi_bootfile_name: string;
  readonly ipxe_script_url: string;
  readonly listen_address: string;
  /** Where broadcast replies go: 255.255.255.255, or the subnet broadcast (no extra route needed). */
  readonly dhcp_broadcast: string;
  readonly dhcp_port: number;
  /** Seconds a deleted node's DHCP reservations are kept (a node enrolled again keeps its address). */
  readonly dhcp_reservation_grace: number;
  readonly tftp_enabled: boolean;
  readonly tftp_port: number;
  /** Concurrent TFTP transfers one client address may hold. */
  readonly tftp_max_transfers_per_client: number;
  /** MiB of file read ahead by all TFTP transfers together. */
  readonly tftp_read_ahead_mb: number;
  /** The verified boot-image cache; '' = `<tftp_root>/master_images` (hard links into tftp_root work). */
  readonly image_cache_dir: string;
}

/** `[deploy_helper]` options (ours): the deploy ramdisk's port-10000 callback and the deploy jobs. */
export interface DeployHelperOptions {
  readonly callback_listen_address: string;
  readonly callback_port: number;
  readonly callback_max_body_bytes: number;
  /** Deploy jobs one deploy-helper process works on at once; 0 = none (callbacks only). */
  readonly deploy_workers: number;
  /** The durable queue of deploy jobs (callbacks publish, workers consume; dead letters `<queue>.dead`). */
  readonly job_queue: string;
  /** How the deploy target is attached: the kernel initiator (iscsiadm), userspace, or whichever works. */
  readonly iscsi_attacher: 'auto' | 'kernel' | 'userspace';
  /** CHAP user for deploy ramdisks whose target asks for it; '' = no authentication (the seed's). */
  readonly iscsi_chap_user: string;
  /** A file holding that user's CHAP secret (never the secret itself in the config). */
  readonly iscsi_chap_password_file: string;
}

/** `[images]` options (ours): the images service (Glance v2 API) and where it keeps image data. */
export interface ImagesOptions {
  readonly api_listen_address: string;
  readonly api_port: number;
  /** Directory of the image files, one per image, named by its id. */
  readonly data_dir: string;
}

/** `[rack]` options (ours): the rack view, a live web page of the nodes (apps/rack). */
export interface RackOptions {
  readonly listen_address: string;
  readonly port: number;
}

/** `[glance]` options, as nova.conf's: where clients (bmctl, compute) find the image service. */
export interface GlanceOptions {
  /** Base URLs (`http://host:port`), the first one used; nova.conf's `host:port` spelling is accepted. */
  readonly api_servers: readonly string[];
}

/** `[oslo_messaging_rabbit]` options, as oslo.messaging's rabbit driver names them. */
export interface OsloMessagingRabbitOptions {
  /** Messages a consumer holds delivered and not yet handled; 0 = no limit. */
  readonly rabbit_qos_prefetch_count: number;
  /** TLS to the broker even for a `rabbit://` URL (as `amqps://` or `?ssl=1`). */
  readonly ssl: boolean;
  /** CA bundle the broker's certificate must chain to; '' = the system's. */
  readonly ssl_ca_file: string;
  /** Client certificate and key, for a broker that verifies its peers; '' = none. */
  readonly ssl_cert_file: string;
  readonly ssl_key_file: string;
  /** The one TLS version offered (oslo spelling); '' = Node's defaults. */
  readonly ssl_version: '' | 'tlsv1_2' | 'tlsv1_3';
}

export type NotificationDriverKind = 'messagingv2' | 'messaging' | 'log' | 'noop';

/** `[oslo_messaging_notifications]` options, as oslo.messaging names them. */
export interface OsloMessagingNotificationsOptions {
  /** How notifications are sent; empty = not at all. */
  readonly driver: readonly NotificationDriverKind[];
  /** Each notification goes to `<topic>.<priority>` of each. */
  readonly topics: readonly string[];
}

export interface OptionDef<T> {
  readonly type: ValueType<T>;
  readonly default: T;
  /** How to show the default when `String(default)` is not helpful. */
  readonly defaultText?: string;
  readonly help: string;
  /** Old spellings, accepted with a warning in either group. */
  readonly deprecatedNames?: readonly string[];
  /** Equally valid spellings in the option's own group. */
  readonly otherNames?: readonly string[];
  /** Well-known environment variables read when `BM_<NAME>` is not set. */
  readonly envAliases?: readonly string[];
  /** The environment variable instead of `BM_<NAME>` (for a name two groups use). */
  readonly env?: string;
  /**
   * oslo's MultiStrOpt (for list-valued types only): every `name = value` line counts, in every
   * config file, in order, each value a list of its own; the lists are joined.
   */
  readonly multi?: boolean;
  /** What deploy/nova.conf.sample shows for a default that depends on the machine (oslo's sample_default). */
  readonly sampleDefault?: string;
}

export type Schema<O> = { readonly [K in keyof O]: OptionDef<O[K]> };

const computeDriver = classPath<ComputeDriverKind>(
  [{ kind: 'baremetal', spellings: ['nova.virt.baremetal.driver.BareMetalDriver', 'baremetal.BareMetalDriver'] }],
  (raw) =>
    `${show(raw)} is not supported: only the baremetal driver is provided (nova.virt.baremetal.driver.BareMetalDriver)`,
);

const hostManager = classPath<HostManagerKind>(
  [{ kind: 'baremetal', spellings: ['nova.scheduler.baremetal_host_manager.BaremetalHostManager', 'baremetal'] }],
  (raw) =>
    `${show(raw)} is not supported: only the baremetal host manager is provided ` +
    '(nova.scheduler.baremetal_host_manager.BaremetalHostManager)',
);

const nodeDriver = classPath<NodeDriverKind>(
  [{ kind: 'pxe', spellings: ['nova.virt.baremetal.pxe.PXE', 'pxe'] }],
  (raw) => `${show(raw)} is not supported: only the PXE driver is provided (nova.virt.baremetal.pxe.PXE)`,
);

const powerManager = classPath<PowerManagerKind>(
  [
    { kind: 'native', spellings: ['nova.virt.baremetal.ipmi.IPMI', 'ipmi', 'native'] },
    { kind: 'ipmitool', spellings: ['ipmitool'] },
    { kind: 'fake', spellings: ['nova.virt.baremetal.fake.FakePowerManager', 'fake'] },
  ],
  (raw) =>
    `${show(raw)} is not supported: use nova.virt.baremetal.ipmi.IPMI (or native), ipmitool, ` +
    'or nova.virt.baremetal.fake.FakePowerManager (or fake)',
);

export const DEFAULT_SCHEMA: Schema<DefaultOptions> = {
  host: {
    type: nonEmptyString,
    default: hostname(),
    defaultText: "this machine's hostname",
    sampleDefault: '<current_hostname>',
    help: 'Name of this service host; bm nodes are bound to the host that manages them.',
  },
  debug: {
    type: boolean,
    default: false,
    help: "Log at DEBUG level as well (oslo.log's debug), e.g. the scheduler's choice for every request.",
  },
  log_file: {
    type: optionalPath,
    default: '',
    help: "oslo.log's log_file: append the log to this file (reopened when logrotate moves it) instead of stdout/stderr; relative to log_dir when that is set, else to the working directory. Empty = no file.",
  },
  log_dir: {
    type: optionalAbsolutePath,
    default: '',
    help: "oslo.log's log_dir: the directory of log_file; set alone, each service logs to <log_dir>/<service>.log (compute.log, power.log, …).",
  },
  use_json: {
    type: boolean,
    default: false,
    help: "oslo.log's use_json: one JSON object per line (timestamp, level, service, host, context, message, request_id, node and instance ids when known, the stack of an error) instead of text, wherever the log goes.",
  },
  use_syslog: {
    type: boolean,
    default: false,
    help: "oslo.log's use_syslog: send the log to the local syslog (/dev/log, through util-linux's logger) as well, with the facility below and a severity from each line's level.",
  },
  syslog_log_facility: {
    type: syslogFacility,
    default: 'LOG_USER',
    help: "oslo.log's syslog_log_facility: LOG_USER, LOG_DAEMON, LOG_LOCAL0 … LOG_LOCAL7 (any case, LOG_ optional).",
  },
  log_date_format: {
    type: logDateFormat,
    default: '%Y-%m-%d %H:%M:%S',
    help: "oslo.log's log_date_format: the strftime format of the time (local) at the start of each text line, followed by .<milliseconds>, and of asctime in JSON lines. Directives: %Y %y %m %d %e %H %I %M %S %f %p %j %a %A %b %B %z %Z %F %T %%.",
  },
  use_stderr: {
    type: boolean,
    default: false,
    help: "oslo.log's use_stderr: every line to standard error (with a log file: to both). With neither a log file nor use_stderr, lines go to stdout, errors to stderr.",
  },
  my_ip: {
    type: ipv4,
    default: '127.0.0.1',
    help: 'IP address of this host: the TFTP/DHCP server address given to nodes.',
  },
  compute_driver: {
    type: computeDriver,
    default: 'baremetal',
    defaultText: 'nova.virt.baremetal.driver.BareMetalDriver',
    help: 'Virt driver; only the baremetal driver is provided.',
  },
  firewall_driver: {
    type: string,
    default: 'nova.virt.firewall.NoopFirewallDriver',
    help: 'Firewall driver; bare metal nodes cannot be filtered on the host, so the no-op driver is usual.',
  },
  scheduler_host_manager: {
    type: hostManager,
    default: 'baremetal',
    defaultText: 'nova.scheduler.baremetal_host_manager.BaremetalHostManager',
    help: 'Scheduler host manager; only the baremetal host manager is provided.',
  },
  scheduler_max_attempts: {
    type: integer({ min: 1 }),
    default: 3,
    help: 'Nodes one boot request may be tried on (rescheduling when a claim fails) before NoValidHost.',
  },
  scheduler_match_policy: {
    type: oneOf(['exact', 'at-least'] as const),
    default: 'exact',
    help: "exact: a flavor matches a node with exactly its vCPUs, RAM and disk (Nova's Exact*Filters); at-least: the smallest node with at least as much (MAAS-style). A node is consumed whole either way.",
  },
  ram_allocation_ratio: { type: floatAbove(0), default: 1.0, help: 'RAM overcommit ratio; keep 1.0 for bare metal.' },
  reserved_host_memory_mb: {
    type: integer({ min: 0 }),
    default: 0,
    help: 'Memory (MB) reserved per node; keep 0 for bare metal.',
  },
  dhcp_options_enabled: { type: boolean, default: false, help: 'Send PXE DHCP options to the network service.' },
  transport_url: {
    type: transportUrl,
    default: 'rabbit://guest:guest@127.0.0.1:5672/',
    help: 'Message broker URL.',
    envAliases: ['TRANSPORT_URL'],
  },
  control_exchange: { type: nonEmptyString, default: 'nova', help: 'Broker exchange that RPC topics live in.' },
  periodic_interval: { type: seconds({ min: 1 }), default: 60, help: 'Seconds between periodic tasks.' },
  rpc_response_timeout: { type: seconds({ min: 1 }), default: 60, help: 'Seconds an RPC call waits for its reply.' },
  rpc_ping_enabled: {
    type: boolean,
    default: false,
    help: 'Answer oslo\'s oslo_rpc_server_ping call with "pong" on every RPC server of the service (a liveness probe over the bus).',
  },
  executor_thread_pool_size: {
    type: integer({ min: 1, max: 4096 }),
    default: 64,
    help: "RPC requests one RPC server of the service runs at once (oslo's executor_thread_pool_size); the rest wait, unacknowledged, up to [oslo_messaging_rabbit] rabbit_qos_prefetch_count, and the remainder stays queued on the broker.",
  },
  rabbit_management_url: {
    type: string,
    default: '',
    help: "RabbitMQ management API URL for `bmctl queues`; empty = http://<transport host>:15672 with the transport's credentials.",
  },
  rpc_admin_role: {
    type: string,
    default: 'admin',
    help: 'Role the request context (its `roles`) must hold for the destructive RPC methods: power on/off, reboot, boot device, PXE file writes and removal. Empty = no check.',
  },
  rpc_check_sender: {
    type: boolean,
    default: false,
    help: "Scheduler: accept a compute host's capability report (update_service_capabilities) only from a broker user that speaks for that host, by the message's AMQP user_id (RabbitMQ checks it against the sender's login). Off by default: oslo peers send no user_id.",
  },
  rpc_host_user_prefix: {
    type: string,
    default: 'compute-',
    help: 'With rpc_check_sender: broker user <prefix><host> speaks for <host>. Empty = only rpc_host_users.',
  },
  rpc_host_users: {
    type: keyValueList,
    default: Object.freeze({}),
    help: 'With rpc_check_sender: more broker users, each with the host it speaks for (user:host,user:host).',
  },
  rpc_admin_senders: {
    type: regularExpression,
    default: '',
    help: "With rpc_check_sender: a regular expression the AMQP user_id of a destructive method's request must match (power: ^(compute-.+|bmctl)$); empty = any sender. Stops a service that may only reply from putting requests straight into another service's queue.",
  },
  instances_path: {
    type: nonEmptyString,
    default: '/var/lib/nova-bm/instances',
    help: 'Where instance files are kept.',
  },
  state_path: { type: nonEmptyString, default: '/var/lib/nova-bm', help: 'Top-level directory for service state.' },
  health_host: {
    type: ipv4,
    default: '127.0.0.1',
    help: 'Address of the HTTP server of /healthz/live, /healthz/ready (and /healthz) and /metrics; 0.0.0.0 = every one, for a Prometheus scraping from another host.',
  },
  health_port: {
    type: integer({ min: 0, max: 65535 }),
    default: 0,
    help: "HTTP port of the health and metrics endpoints; 0 = the app's own default (compute 9101, scheduler 9102, power 9103, netboot 9104, deploy-helper 9105, images 9106).",
  },
  use_ipv6: { type: boolean, default: false, help: 'Use IPv6 addresses.' },
  graceful_shutdown_timeout: {
    type: seconds({ min: 0 }),
    default: 60,
    help: 'Seconds a service given SIGTERM keeps finishing the RPC requests it started (it takes no new ones; queued ones stay for the next instance) before it exits; 0 = no limit.',
  },
};

export const BAREMETAL_SCHEMA: Schema<BaremetalOptions> = {
  sql_connection: {
    type: sqlConnection,
    default: 'postgresql://postgres@127.0.0.1:5432/nova_bm',
    help: 'PostgreSQL URL of the nova_bm database.',
    deprecatedNames: ['baremetal_sql_connection'],
    envAliases: ['DATABASE_URL'],
  },
  sql_connect_timeout: {
    type: seconds({ min: 1 }),
    default: 10,
    help: 'Seconds to get a database connection (new, or from the pool) before the call fails.',
  },
  sql_statement_timeout: {
    type: seconds({ min: 0 }),
    default: 30,
    help: 'Seconds a SQL statement or an idle transaction may last before PostgreSQL cancels it (0: no limit).',
  },
  pm_password_key_file: {
    type: optionalAbsolutePath,
    default: '',
    help:
      'File holding the key that encrypts the BMC passwords stored in nova_bm (AES-256-GCM; 32 bytes in base64, ' +
      'as `bmctl db gen-key` writes). Required to enroll a node with a password and to power a node whose ' +
      'password is stored encrypted; `bmctl db re-encrypt` encrypts older clear values and rotates keys.',
  },
  driver: {
    type: nodeDriver,
    default: 'pxe',
    defaultText: 'nova.virt.baremetal.pxe.PXE',
    help: 'Node driver; only PXE is provided.',
    deprecatedNames: ['baremetal_driver'],
  },
  power_manager: {
    type: powerManager,
    default: 'native',
    defaultText: 'nova.virt.baremetal.ipmi.IPMI (native)',
    help: 'Power manager: nova.virt.baremetal.ipmi.IPMI or native (built-in IPMI 2.0 client), ipmitool, or fake.',
  },
  instance_type_extra_specs: {
    type: keyValueList,
    default: Object.freeze({}),
    help: 'key:value pairs reported as node capabilities and matched against flavor extra_specs, e.g. cpu_arch:x86_64.',
    otherNames: ['flavor_extra_specs'],
  },
  tftp_root: {
    type: absolutePath,
    default: '/tftpboot',
    help: 'TFTP root directory.',
    deprecatedNames: ['baremetal_tftp_root'],
  },
  terminal: { type: nonEmptyString, default: 'shellinaboxd', help: 'Serial console web terminal program.' },
  terminal_cert_dir: {
    type: string,
    default: '',
    help: 'Certificate directory of the console terminal; empty = no TLS.',
  },
  terminal_pid_dir: { type: string, default: '', help: 'Directory for console terminal pid files.' },
  pxe_bootfile_name: { type: nonEmptyString, default: 'pxelinux.0', help: 'PXE boot file name given out by DHCP.' },
  pxe_append_params: {
    type: string,
    default: 'nofb nomodeset vga=normal',
    help: 'Extra kernel parameters for the deploy and instance kernels.',
  },
  net_config_template: {
    type: nonEmptyString,
    default: 'net-dhcp.ubuntu.template',
    help: 'Template for the network configuration injected into the image.',
  },
  deploy_kernel: {
    type: string,
    default: '',
    help: 'Glance id of the deploy kernel (a flavor can override it).',
    deprecatedNames: ['baremetal_deploy_kernel'],
  },
  deploy_ramdisk: {
    type: string,
    default: '',
    help: 'Glance id of the deploy ramdisk (a flavor can override it).',
    deprecatedNames: ['baremetal_deploy_ramdisk'],
  },
  pxe_interface: {
    type: string,
    default: '',
    help: 'Network interface of the boot network: TFTP binds its address, the DHCP range must be on its subnet (DHCP itself hears all interfaces: Node cannot bind UDP to a device).',
  },
  baremetal_type: { type: nonEmptyString, default: 'baremetal', help: 'Hypervisor type reported for bm nodes.' },
  deploy_poll_interval: {
    type: seconds({ min: 1 }),
    default: 1,
    help: "Seconds between compute's reads of a deploying node's row (Nova's 1 s loop). The deploy helper's deploy_state_changed cast wakes the wait at once; the poll catches a lost cast, and a deadline is checked when it falls due whatever this is.",
  },
  pxe_deploy_timeout: {
    type: seconds({ min: 0 }),
    default: 1800,
    help: 'Seconds a node may stay prepared (waiting for the deploy ramdisk) and then deploying before the spawn fails; 0 is accepted for compatibility: no limit, logged as a warning.',
  },
  pxe_network_config: {
    type: boolean,
    default: false,
    help: 'Pass network configuration to the deploy ramdisk on the kernel command line.',
  },
  use_file_injection: { type: boolean, default: false, help: 'Inject files and network configuration into the image.' },
  ipmi_power_retry: {
    type: integer({ min: 0 }),
    default: 10,
    help: 'Power state polls before an IPMI power change fails.',
  },
  power_sync_interval: {
    type: seconds({ min: 0 }),
    default: 60,
    help: "Seconds between sweeps of the nodes' power states (0 = none); failing BMCs back off.",
  },
  nova_conductor: {
    type: boolean,
    default: false,
    help: "compute reports to a Nova conductor (topic `conductor`) as nova-compute does: its `services` record, created and kept alive every report_interval, so Nova's service list shows the host up. Off when no Nova runs beside us: nothing would answer.",
  },
  report_interval: {
    type: seconds({ min: 1, max: 86_400 }),
    default: 10,
    help: "Seconds between compute's reports to the Nova conductor (Nova's [DEFAULT] report_interval).",
  },
  ipmi_deadline: {
    type: seconds({ min: 1 }),
    default: 5,
    help: 'Seconds one BMC call may take, session setup and retransmissions included.',
  },
  use_unsafe_iscsi: {
    type: boolean,
    default: false,
    help: 'Export volumes to every initiator instead of the node fixed IPs.',
  },
  iscsi_iqn_prefix: {
    type: nonEmptyString,
    default: 'iqn.2010-10.org.openstack.baremetal',
    help: 'Prefix of iSCSI target IQNs.',
  },
  vif_driver: {
    type: string,
    default: 'nova.virt.baremetal.vif_driver.BareMetalVIFDriver',
    help: 'Accepted for compatibility.',
  },
  volume_driver: {
    type: string,
    default: 'nova.virt.baremetal.volume_driver.LibvirtVolumeDriver',
    help: 'Accepted for compatibility.',
  },
  db_backend: { type: string, default: 'sqlalchemy', help: 'Accepted for compatibility.' },
};

export const NETBOOT_SCHEMA: Schema<NetbootOptions> = {
  dhcp_mode: {
    type: oneOf(['full', 'proxy', 'off'] as const),
    default: 'off',
    help: 'full: addresses and PXE options; proxy: PXE options only (another DHCP server gives addresses); off (default: a DHCP server must be asked for, never started by surprise on a network).',
  },
  dhcp_range: {
    type: ipv4Range,
    default: null,
    defaultText: '',
    help: 'Addresses to reserve for enrolled NICs, FIRST,LAST (needed in full mode).',
  },
  dhcp_netmask: { type: ipv4, default: '255.255.255.0', help: 'Subnet mask given to nodes.' },
  dhcp_router: { type: optionalIpv4, default: '', help: 'Default gateway given to nodes (empty: none).' },
  dhcp_lease_time: {
    type: integer({ min: 60 }),
    default: 86400,
    help: 'Lease time in seconds; a MAC keeps its address across leases anyway.',
  },
  uefi_bootfile_name: {
    type: nonEmptyString,
    default: 'bootx64.efi',
    help: 'Boot file for UEFI x64 PXE clients (option 93 = 7 or 9).',
  },
  ipxe_script_url: { type: string, default: '', help: 'Given to iPXE clients instead of the TFTP boot file when set.' },
  listen_address: {
    type: ipv4,
    default: '0.0.0.0',
    help: 'Address the DHCP and TFTP servers bind (on pxe_interface).',
  },
  dhcp_broadcast: {
    type: ipv4,
    default: '255.255.255.255',
    help: 'Where broadcast replies go; the subnet broadcast (e.g. 10.77.0.255) needs no extra route in a namespace.',
  },
  dhcp_port: {
    type: integer({ min: 1, max: 65535 }),
    default: 67,
    help: 'DHCP server port (a high port for unprivileged test runs).',
  },
  dhcp_reservation_grace: {
    type: seconds({ min: 0 }),
    default: 3600,
    help: "Seconds a deleted node's DHCP reservations are kept before their addresses return to the range.",
  },
  tftp_enabled: {
    type: boolean,
    default: false,
    help: 'Serve tftp_root over TFTP (off by default, like DHCP: a boot server is asked for).',
  },
  tftp_port: { type: integer({ min: 1, max: 65535 }), default: 69, help: 'TFTP server port.' },
  tftp_max_transfers_per_client: {
    type: integer({ min: 1, max: 512 }),
    default: 8,
    help: 'Concurrent TFTP transfers one client address may hold (a PXE client fetches one file at a time); more get ERROR 0 "server busy".',
  },
  tftp_read_ahead_mb: {
    type: integer({ min: 1, max: 4096 }),
    default: 64,
    help: 'MiB of file data all TFTP transfers together may read ahead (two chunks of up to 4 MiB each); when it runs short chunks get smaller, and a transfer that cannot have one block gets ERROR 0 "server busy".',
  },
  image_cache_dir: {
    type: optionalAbsolutePath,
    default: '',
    defaultText: '<tftp_root>/master_images',
    help: "Where the boot kernels and ramdisks fetched by image id are kept, verified, one file per id (Ironic's tftp_master_path); on tftp_root's filesystem they are hard-linked, not copied.",
  },
};

export const DEPLOY_HELPER_SCHEMA: Schema<DeployHelperOptions> = {
  callback_listen_address: {
    type: ipv4,
    default: '0.0.0.0',
    help: "Address of the deploy helper's HTTP callback (the ramdisk's POST); 0.0.0.0 = every one, as Nova's.",
  },
  callback_port: {
    type: integer({ min: 1, max: 65535 }),
    default: 10000,
    help: 'Port of the deploy callback; the deploy ramdisk always posts to 10000, so change it only for tests.',
  },
  callback_max_body_bytes: {
    type: integer({ min: 256, max: 1048576 }),
    default: 4096,
    help: "Largest callback body accepted (the ramdisk's is about 150 bytes); a larger one gets 413.",
  },
  deploy_workers: {
    type: integer({ min: 0, max: 64 }),
    default: 1,
    help: "Deploy jobs one deploy-helper process works on at once (Nova's helper: 1, deploys serialized); 0 = this process only answers callbacks and queues jobs, other deploy helpers run them.",
  },
  job_queue: {
    type: queueName,
    default: 'baremetal.deploy',
    help: 'The durable queue of deploy jobs shared by the callbacks and the workers of one deployment; two deployments on one broker (or two test runs) give each their own.',
  },
  iscsi_attacher: {
    type: oneOf(['auto', 'kernel', 'userspace'] as const),
    default: 'auto',
    help:
      "How the deploy helper reaches the ramdisk's iSCSI target: kernel (iscsiadm, as Nova's), userspace " +
      '(qemu-storage-daemon and a FUSE export, for hosts and containers without a kernel initiator), or auto.',
  },
  iscsi_chap_user: {
    type: string,
    default: '',
    help: "CHAP user the deploy helper logs in to the ramdisk's target with; empty: no authentication, as the seed's ramdisk exports its disk.",
  },
  iscsi_chap_password_file: {
    type: optionalAbsolutePath,
    default: '',
    help: 'File holding the CHAP secret of iscsi_chap_user (read at start; never on a command line).',
  },
};

/** Comma-separated base URLs; `host:port` (nova.conf's old spelling) means `http://host:port`. */
const urlList: ValueType<readonly string[]> = {
  description: 'comma-separated http(s) URLs',
  parse(raw) {
    const urls = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map((item) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `http://${item}`));
    if (urls.length === 0) throw new InvalidValue('must name at least one URL');
    for (const url of urls) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new InvalidValue(`${show(url)} is not a URL`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new InvalidValue(`${show(url)} is not an http:// or https:// URL`);
    }
    return Object.freeze(urls.map((url) => url.replace(/\/+$/, '')));
  },
};

export const IMAGES_SCHEMA: Schema<ImagesOptions> = {
  api_listen_address: {
    type: ipv4,
    default: '127.0.0.1',
    help: "Address of the images service's Glance v2 API; 0.0.0.0 = every one.",
  },
  api_port: {
    type: integer({ min: 1, max: 65535 }),
    default: 9292,
    help: "Port of the images service's Glance v2 API (Glance's 9292).",
  },
  data_dir: {
    type: absolutePath,
    default: '/var/lib/nova-bm/images',
    help: 'Directory of the image data, one file per image; uploads are written under a temporary name first.',
  },
};

export const RACK_SCHEMA: Schema<RackOptions> = {
  listen_address: {
    type: ipv4,
    default: '127.0.0.1',
    env: 'BM_RACK_LISTEN_ADDRESS',
    help: 'Address of the rack view (a live web page of every node: state, power, instance, maintenance, deploy progress, timeline); 0.0.0.0 = every one. The page has no login: expose it only where its readers may see every node.',
  },
  port: {
    type: integer({ min: 1, max: 65535 }),
    default: 9180,
    env: 'BM_RACK_PORT',
    help: 'Port of the rack view (http://<listen_address>:<port>/).',
  },
};

export const GLANCE_SCHEMA: Schema<GlanceOptions> = {
  api_servers: {
    type: urlList,
    default: Object.freeze(['http://127.0.0.1:9292']),
    defaultText: 'http://127.0.0.1:9292',
    help: "The image service (ours or a Glance v2) for bmctl's image commands; the first URL is used (host:port = http://).",
    deprecatedNames: ['glance_api_servers'],
  },
};

export const OSLO_MESSAGING_RABBIT_SCHEMA: Schema<OsloMessagingRabbitOptions> = {
  rabbit_qos_prefetch_count: {
    type: integer({ min: 0, max: 65535 }),
    default: 128,
    help: "Messages each consumer (an RPC server, a notification listener) holds delivered and not yet handled; the rest stay queued on the broker, so a burst cannot fill the service's memory. 0 = no limit (oslo's default; ours is 128).",
  },
  ssl: {
    type: boolean,
    default: false,
    env: 'BM_RABBIT_SSL',
    help: 'Connect to the broker over TLS even when transport_url is rabbit:// without ?ssl=1 (amqps:// and ?ssl=1 turn it on too). The broker certificate is always verified.',
  },
  ssl_ca_file: {
    type: optionalAbsolutePath,
    default: '',
    env: 'BM_RABBIT_SSL_CA_FILE',
    help: "PEM file of the CAs the broker's certificate must chain to; empty = the system's CAs.",
  },
  ssl_cert_file: {
    type: optionalAbsolutePath,
    default: '',
    env: 'BM_RABBIT_SSL_CERT_FILE',
    help: 'PEM client certificate shown to a broker that verifies its peers (with ssl_key_file).',
  },
  ssl_key_file: {
    type: optionalAbsolutePath,
    default: '',
    env: 'BM_RABBIT_SSL_KEY_FILE',
    help: 'PEM private key of ssl_cert_file.',
  },
  ssl_version: {
    type: oneOf(['', 'tlsv1_2', 'tlsv1_3']),
    default: '',
    env: 'BM_RABBIT_SSL_VERSION',
    help: "The only TLS version offered (TLSv1_2 or TLSv1_3, oslo's spelling); empty = Node's defaults (TLS 1.2 and 1.3).",
  },
};

export const OSLO_MESSAGING_NOTIFICATIONS_SCHEMA: Schema<OsloMessagingNotificationsOptions> = {
  driver: {
    type: choiceList<NotificationDriverKind>(['messagingv2', 'messaging', 'log', 'noop']),
    default: Object.freeze(['messagingv2'] as NotificationDriverKind[]),
    defaultText: 'messagingv2',
    env: 'BM_NOTIFICATION_DRIVER',
    multi: true,
    help: "How notifications are sent: messagingv2 (on the bus, as Nova's), messaging (the older unenveloped form), log, noop; empty = not sent (oslo's default). Ours is messagingv2 because bmctl boot learns of NoValidHost and failed builds from them; the notifications.* queues need a length cap on the broker (docs/messaging.md).",
  },
  topics: {
    type: nameList,
    default: Object.freeze(['notifications']),
    defaultText: 'notifications',
    env: 'BM_NOTIFICATION_TOPICS',
    help: 'Topics notifications are sent to: `<topic>.<priority>` queues (notifications.info, notifications.error).',
  },
};

/** `BM_<OPTION_NAME_UPPERCASE>`. */
export function envVarName(option: string): string {
  return `BM_${option.toUpperCase()}`;
}

export interface OptionDescription {
  readonly group: OptionGroup;
  readonly name: string;
  readonly type: string;
  readonly deprecatedNames: readonly string[];
  readonly otherNames: readonly string[];
  readonly env: string;
  readonly envAliases: readonly string[];
  /** Display text; URL passwords are masked. */
  readonly default: string;
  readonly help: string;
}

/** The option table, in schema order (the README is generated from it). */
export function describeOptions(): OptionDescription[] {
  return [
    ...describeGroup('DEFAULT', DEFAULT_SCHEMA),
    ...describeGroup('baremetal', BAREMETAL_SCHEMA),
    ...describeGroup('netboot', NETBOOT_SCHEMA),
    ...describeGroup('deploy_helper', DEPLOY_HELPER_SCHEMA),
    ...describeGroup('images', IMAGES_SCHEMA),
    ...describeGroup('rack', RACK_SCHEMA),
    ...describeGroup('glance', GLANCE_SCHEMA),
    ...describeGroup('oslo_messaging_rabbit', OSLO_MESSAGING_RABBIT_SCHEMA),
    ...describeGroup('oslo_messaging_notifications', OSLO_MESSAGING_NOTIFICATIONS_SCHEMA),
  ];
}

function describeGroup<O>(group: OptionGroup, schema: Schema<O>): OptionDescription[] {
  return schemaKeys(schema).map((name) => {
    const def: OptionDef<O[typeof name]> = schema[name];
    return {
      group,
      name,
      type: def.type.description,
      deprecatedNames: def.deprecatedNames ?? [],
      otherNames: def.otherNames ?? [],
      env: def.env ?? envVarName(name),
      envAliases: def.envAliases ?? [],
      default: def.defaultText ?? formatDefault(def.default),
      help: def.help,
    };
  });
}

export function schemaKeys<O>(schema: Schema<O>): (keyof O & string)[] {
  return Object.keys(schema) as (keyof O & string)[];
}

function formatDefault(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .map(([key, item]) => `${key}:${String(item)}`)
      .join(',');
  }
  return redactUrl(String(value));
}
