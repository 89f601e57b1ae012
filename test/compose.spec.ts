import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describeOptions, loadConfig } from '@bm/config';
import { BROKER_TOPICS } from '@bm/contracts';
import { brokerUsers, parseTransportUrl } from '@bm/messaging';
import { ipToInt } from '@bm/dhcp';
import { projects } from '../nest-cli.json';
import { loadNodeSpecs } from '../apps/lab-nodes/src/spec';

// There is no Docker engine on our machines: docker-compose.yml and deploy/Dockerfile are
// checked statically here, against the apps that actually exist and the config they load.
const ROOT = resolve(__dirname, '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  networks?: Record<string, Network | null>;
  volumes?: Record<string, unknown>;
};
type Volume = string | { type: string; source: string; target: string; bind?: { create_host_path?: boolean } };
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  pull_policy?: string;
  command?: string[];
  entrypoint?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[]; start_period?: string };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
  networks?: Record<string, { ipv4_address?: string } | null>;
  network_mode?: string;
  volumes?: Volume[];
  user?: string;
  ports?: string[];
  devices?: string[];
  cap_add?: string[];
}
interface Network {
  internal?: boolean;
  ipam?: { config: { subnet: string; ip_range?: string; gateway?: string }[] };
}
const IMAGE = 'nova-bm:latest';
// The services: every application of nest-cli.json but the CLI. The simulated lab nodes
// (apps/lab-nodes, a tool) are a plain process of the same image, checked on their own.
const APPS = Object.entries(projects)
  .filter(([name, p]) => p.type === 'application' && name !== 'cli')
  .map(([name]) => name);
const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
/** The value of a required variable (`${VAR:?message}`) here: the broker passwords of --env-file. */
const REQUIRED = 'secret';
/**
 * A service's environment as the container gets it: `${VAR:-default}` taken as its default,
 * `${VAR:?message}` as REQUIRED, `$$` as `$`.
 */
const envOf = (name: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([k, v]) => [
      k,
      String(v)
        .replace(/\$\{\w+:-([^}]*)\}/g, '$1')
        .replace(/\$\{\w+:\?[^}]*\}/g, REQUIRED)
        .replace(/\$\$/g, '$'),
    ]),
  );
const configOf = (name: string) => loadConfig({ env: envOf(name) });
const namedVolumes = (s: Service): { source: string; target: string }[] =>
  (s.volumes ?? [])
    .map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v))
    .filter((v) => !/^[./~]/.test(v.source));
const boot = compose.networks?.boot?.ipam?.config[0];
const inCidr = (ip: string, cidr: string) => {
  const [net, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return ((ipToInt(ip) ^ ipToInt(net)) & mask) === 0;
};

describe('docker-compose.yml', () => {
  it('has rabbitmq with the management UI and postgres, both with healthchecks', () => {
    const { rabbitmq, postgres } = compose.services;
    expect(rabbitmq.image).toMatch(/^rabbitmq:[0-9.]+-management$/);
    expect(rabbitmq.healthcheck?.test).toBeDefined();
    expect(postgres.image).toMatch(/^postgres:15/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('gives every service a broker user of its own, as scripts/broker-users.ts makes them; no administrator', () => {
    const rabbitmq = service('rabbitmq');
    expect(rabbitmq.environment ?? {}).not.toHaveProperty('RABBITMQ_DEFAULT_USER');
    const mounts = (rabbitmq.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    expect(mounts).toEqual([
      './.lab/compose-broker/definitions.json:/etc/rabbitmq/definitions.json',
      './deploy/broker/20-definitions.conf:/etc/rabbitmq/conf.d/20-definitions.conf:ro',
    ]);
    expect(readFileSync(join(ROOT, 'deploy/broker/20-definitions.conf'), 'utf8')).toMatch(
      /^load_definitions = \/etc\/rabbitmq\/definitions\.json$/m,
    );
    // Who logs in as whom, and with the password variable the script writes for that user.
    const login = (name: string) => {
      const raw = String(service(name).environment?.TRANSPORT_URL);
      const user = parseTransportUrl(envOf(name).TRANSPORT_URL).hosts[0].username;
      return [user, /\$\{(BROKER_PASSWORD_\w+):\?/.exec(raw)?.[1]];
    };
    const host = envOf('compute').BM_HOST;
    const users = brokerUsers({
      vhost: '/',
      exchange: 'nova',
      computeHosts: [host],
      topics: BROKER_TOPICS,
      jobQueue: 'baremetal.deploy',
    });
    const want = (role: string) => {
      const u = users.find((x) => x.role === role)!;
      return [u.name, `BROKER_PASSWORD_${role.toUpperCase().replace('-', '_')}`];
    };
    for (const app of APPS) expect([app, ...login(app)]).toEqual([app, ...want(app)]);
    expect(login('bmctl')).toEqual(want('operator'));
    expect(new Set(APPS.map((a) => login(a)[0])).size).toBe(APPS.length);
  });

  it('checks the sender of capability reports, and of power and PXE changes', () => {
    for (const app of APPS) expect([app, configOf(app).default.rpc_check_sender]).toEqual([app, true]);
    const senders = (app: string) => new RegExp(configOf(app).default.rpc_admin_senders);
    expect(['compute-lab-compute-1', 'bmctl', 'netboot', 'deploy-helper'].map((u) => senders('power').test(u))).toEqual(
      [true, true, false, false],
    );
    expect(['compute-x', 'deploy-helper', 'bmctl', 'power'].map((u) => senders('netboot').test(u))).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('runs the schema migration once before the services', () => {
    const m = service('migrate');
    // The key of the BMC passwords first (kept when it exists), then the schema.
    expect(m.command).toEqual([
      'sh',
      '-c',
      'bmctl db gen-key --if-missing "$$BM_PM_PASSWORD_KEY_FILE" && exec bmctl db sync',
    ]);
    expect(m.depends_on?.postgres.condition).toBe('service_healthy');
    expect(dockerfile).toMatch(/ln -s \/opt\/nova-bm\/apps\/cli\/bin\/bmctl\.js \/usr\/local\/bin\/bmctl/);
  });

  it('gives the BMC password key to migrate (which writes it), power and bmctl only', () => {
    const holders = Object.entries(compose.services)
      .filter(([, s]) => (s.environment as Record<string, string> | undefined)?.BM_PM_PASSWORD_KEY_FILE)
      .map(([name]) => name);
    expect(holders.sort()).toEqual(['bmctl', 'migrate', 'power']);
    for (const name of holders) expect(JSON.stringify(service(name).volumes)).toContain('keys:/var/lib/nova-bm-keys');
  });

  it('builds the image once (migrate); every other nova-bm container runs it and never pulls it', () => {
    const building = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(building.map(([name]) => name)).toEqual(['migrate']);
    expect(service('migrate')).toMatchObject({
      image: IMAGE,
      build: { context: '.', dockerfile: 'deploy/Dockerfile' },
      pull_policy: 'build',
    });
    const users = Object.entries(compose.services).filter(([name, s]) => s.image === IMAGE && name !== 'migrate');
    expect(users.map(([name]) => name).sort()).toEqual([...APPS, 'lab-nodes', 'bmctl'].sort());
    for (const [name, s] of users) expect([name, s.pull_policy]).toEqual([name, 'never']);
  });

  it.each(APPS)('%s: runs its app from the image, with its env and a healthcheck', (app) => {
    const s = service(app);
    expect(s.command).toEqual(['node', `dist/apps/${app}/main.js`]);
    const env = envOf(app);
    for (const key of ['DATABASE_URL', 'TRANSPORT_URL', 'BM_HOST', 'BM_HEALTH_PORT']) expect(env).toHaveProperty(key);
    expect(s.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${env.BM_HEALTH_PORT}/healthz`);
    expect(s.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      rabbitmq: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    // The environment it gets is a valid configuration naming the compose postgres and broker.
    const config = configOf(app);
    const pg = compose.services.postgres.environment!;
    expect(config.baremetal.sql_connection).toBe(
      `postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
    );
    expect(config.default.transport_url).toMatch(/^rabbit:\/\/.*@rabbitmq:5672\/$/);
    expect(config.default.health_port).toBe(Number(env.BM_HEALTH_PORT));
    expect(config.warnings).toEqual([]);
  });

  it('gives every service its own health port', () => {
    const ports = APPS.map((a) => envOf(a).BM_HEALTH_PORT);
    expect(new Set(ports).size).toBe(APPS.length);
  });

  // The names libs/config reads: BM_<OPTION>, DATABASE_URL, TRANSPORT_URL, BM_CONFIG_FILE.
  // (lab-nodes takes its settings on its command line: it has no environment.)
  const KNOWN = new Set(['BM_CONFIG_FILE', ...describeOptions().flatMap((o) => [o.env, ...o.envAliases])]);
  it.each([...APPS, 'migrate', 'bmctl', 'lab-nodes'])('%s: every environment variable is one that is read', (name) => {
    const unknown = Object.keys(envOf(name)).filter((k) => !KNOWN.has(k));
    expect(unknown).toEqual([]);
    if (name === 'lab-nodes') expect(service(name).environment).toBeUndefined();
  });

  it('has a healthcheck with a start_period on every long-running service', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'migrate' || s.profiles?.includes('tools')) continue;
      expect([name, s.healthcheck?.test?.length ?? 0]).not.toEqual([name, 0]);
      expect([name, s.healthcheck?.start_period]).toEqual([name, expect.stringMatching(/^\d+s$/)]);
    }
  });

  it('gives every service longer than its graceful_shutdown_timeout (60 s) and hard stop (15 s) to stop', () => {
    for (const name of ['compute', 'scheduler', 'power', 'netboot', 'deploy-helper', 'images']) {
      const grace = String(service(name).stop_grace_period ?? '10s');
      expect([name, Number(/^(\d+)s$/.exec(grace)?.[1] ?? 0) > 75]).toEqual([name, true]);
    }
  });

  it('has a boot network with netboot (DHCP full, TFTP), the lab nodes and the deploy helper on it', () => {
    const net = compose.networks?.boot;
    expect(net?.internal).toBe(true); // no route out of the nodes' network
    expect(boot).toEqual({ subnet: expect.any(String), ip_range: expect.any(String), gateway: expect.any(String) });
    const netboot = service('netboot');
    const myIp = netboot.networks?.boot?.ipv4_address;
    const config = configOf('netboot');
    expect(config.default.my_ip).toBe(myIp);
    expect(inCidr(myIp!, boot!.subnet)).toBe(true);
    expect(inCidr(myIp!, boot!.ip_range!)).toBe(false); // not one Docker may hand to another container
    expect(config.netboot.dhcp_mode).toBe('full');
    expect(config.netboot.tftp_enabled).toBe(true);
    const range = config.netboot.dhcp_range!;
    for (const ip of [range.first, range.last]) {
      expect([ip, inCidr(ip, boot!.subnet)]).toEqual([ip, true]);
      expect([ip, inCidr(ip, boot!.ip_range!)]).toEqual([ip, false]);
    }
    // Replies to the subnet broadcast leave on the boot network whatever the default route is.
    const bits = Number(boot!.subnet.split('/')[1]);
    const broadcast = (ipToInt(boot!.subnet.split('/')[0]) | (0xffffffff >>> bits)) >>> 0;
    expect(ipToInt(config.netboot.dhcp_broadcast)).toBe(broadcast);
    // The simulated nodes: only on the boot network (so it is their eth0), their BMCs there, and
    // power, which drives those BMCs, on it too.
    const lab = service('lab-nodes');
    const labIp = lab.networks?.boot?.ipv4_address;
    expect(Object.keys(lab.networks ?? {})).toEqual(['boot']);
    expect(inCidr(labIp!, boot!.subnet) && !inCidr(labIp!, boot!.ip_range!) && labIp !== myIp).toBe(true);
    expect(lab.command!.join(' ')).toContain(`--interface eth0 --bmc-address ${labIp}`);
    expect(service('power').networks).toHaveProperty('boot');
    // The deploy ramdisk calls back to its boot server (my_ip) on 10000: the deploy helper shares
    // netboot's network stack, so it is there.
    expect(service('deploy-helper').network_mode).toBe('service:netboot');
    expect(configOf('deploy-helper').deploy_helper.callback_port).toBe(10000);
  });

  it('gives the deploy helper FUSE (the userspace iSCSI attacher)', () => {
    const s = service('deploy-helper');
    expect(s.devices).toContain('/dev/fuse');
    expect(s.cap_add).toContain('SYS_ADMIN');
  });

  it('keeps tftp_root, the image store and the state on declared named volumes', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of namedVolumes(s))
        expect([name, v.source, declared.includes(v.source)]).toEqual([name, v.source, true]);
    }
    const mountedAt = (name: string, path: string) => namedVolumes(service(name)).some((v) => v.target === path);
    expect(mountedAt('netboot', configOf('netboot').baremetal.tftp_root)).toBe(true);
    expect(mountedAt('images', configOf('images').images.data_dir)).toBe(true);
    for (const name of ['compute', 'deploy-helper'])
      expect(mountedAt(name, configOf(name).default.state_path)).toBe(true);
    expect(mountedAt('postgres', '/var/lib/postgresql/data')).toBe(true);
  });

  it('serves the Glance v2 API of the images service on 9292', () => {
    const config = configOf('images');
    expect(config.images.api_port).toBe(9292);
    expect(config.images.api_listen_address).toBe('0.0.0.0');
    expect(service('images').ports).toContain('127.0.0.1:9292:9292');
    expect(configOf('compute').glance.api_servers).toEqual(['http://images:9292']);
  });

  it('runs the simulated lab nodes (apps/lab-nodes) as root with NET_ADMIN, after netboot', () => {
    const s = service('lab-nodes');
    expect(s.command!.slice(0, 4)).toEqual([
      'node',
      'dist/apps/lab-nodes/main.js',
      '--nodes',
      '/etc/nova-bm/lab-nodes/nodes.json',
    ]);
    expect(s.volumes).toContainEqual(
      expect.objectContaining({ source: './deploy/lab-nodes', target: '/etc/nova-bm/lab-nodes', read_only: true }),
    );
    expect(s.user).toBe('root'); // tgtd, DHCP client port 68
    expect(s.cap_add).toEqual(['NET_ADMIN']); // the nodes' leased addresses, the broadcast route
    expect(s.depends_on).toEqual({ netboot: { condition: 'service_healthy' } });
    expect(s.healthcheck!.test.join(' ')).toContain('/run/lab-nodes/status.json');
  });

  it('has a bmctl tools service: docker compose run --rm bmctl …', () => {
    const s = service('bmctl');
    expect(s.profiles).toEqual(['tools']);
    expect(s.entrypoint).toEqual(['bmctl']);
    expect(s.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
  });
});

describe('deploy/Dockerfile', () => {
  it('builds on Node 20 and copies only paths that exist and are not docker-ignored', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(copies.length).toBeGreaterThan(5);
    for (const src of copies) {
      expect([src, existsSync(join(ROOT, src))]).toEqual([src, true]);
      expect(ignored.some((i) => src === i || src.startsWith(`${i}/`))).toBe(false);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist']));
  });

  it('builds every app the compose file runs', () => {
    expect(dockerfile).toContain('RUN node scripts/build.js');
    const { projects: built } = JSON.parse(readFileSync(join(ROOT, 'nest-cli.json'), 'utf8'));
    for (const app of APPS) expect(built[app].type).toBe('application');
  });

  it('installs the programs the services call, and puts pxelinux.0 and ldlinux.c32 in /tftpboot', () => {
    const install = /apt-get install -y --no-install-recommends ([^&]+)&&/.exec(dockerfile.replace(/\\\n/g, ' '));
    const packages = install![1].trim().split(/\s+/);
    // sfdisk, qemu-img, qemu-storage-daemon + iscsi + FUSE, mke2fs, ipmitool, ip, pxelinux, tgtd
    for (const p of [
      'fdisk',
      'qemu-utils',
      'qemu-system-common',
      'qemu-block-extra',
      'fuse3',
      'e2fsprogs',
      'ipmitool',
      'iproute2',
      'pxelinux',
      'syslinux-common',
      'tgt',
    ])
      expect(packages).toContain(p);
    expect(dockerfile).toMatch(
      /cp \/usr\/lib\/PXELINUX\/pxelinux\.0 \/usr\/lib\/syslinux\/modules\/bios\/ldlinux\.c32 \/tftpboot\//,
    );
    expect(dockerfile).toMatch(/chown -R node:node \/tftpboot \/var\/lib\/nova-bm/);
  });
});

describe('deploy/lab-nodes (the compose lab-nodes service mounts it)', () => {
  const dir = resolve(__dirname, '../deploy/lab-nodes');

  it('its node file loads, and every node is enrolled by its baremetal.csv with the BMC on lab-nodes', async () => {
    const specs = await loadNodeSpecs(join(dir, 'nodes.json'), { bmcAddress: '10.77.0.3' });
    expect(specs.length).toBeGreaterThan(0);
    const csv = readFileSync(join(dir, 'baremetal.csv'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('mac,'));
    const enrolled = new Map(csv.map((l) => [l.split(',')[0], l.split(',')[3]]));
    for (const s of specs) expect(enrolled.get(s.mac)).toBe(`10.77.0.3:${s.bmc.port}`);
    expect(specs.every((s) => s.bmc.password === 'password' && s.disk.file.startsWith('/var/lib/lab-nodes/'))).toBe(
      true,
    );
  });
});
