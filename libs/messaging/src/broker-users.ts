/**
 * One RabbitMQ user per service, each allowed only what its role needs: the vhost permissions
 * (which exchanges and queues it may declare, publish to, consume from) and, on the control
 * exchange, RabbitMQ's topic authorisation (which routing keys it may publish with). Rendered as
 * RabbitMQ definitions (`rabbitmqctl import_definitions`, or the broker's `load_definitions`):
 * passwords only as salted SHA-256 hashes, never on a command line.
 *
 * Who sends what on the control exchange (libs/contracts CATALOG):
 *   compute        → scheduler (reports, fanout), power, netboot, Nova's conductor
 *   scheduler      → compute (run_instance; publish_service_capabilities, fanout)
 *   deploy-helper  → compute (deploy_state_changed), netboot (activate_boot); its job queue
 *   power, netboot, images, rack → nothing but notifications and replies
 *   operator (bmctl) → anything
 */
import { createHash, randomBytes } from 'node:crypto';
import { JOBS_EXCHANGE } from './jobs';

export type BrokerRole =
  'compute' | 'scheduler' | 'power' | 'netboot' | 'deploy-helper' | 'images' | 'rack' | 'operator';

export interface BrokerUsersOptions {
  vhost: string;
  /** The control exchange (`[DEFAULT] control_exchange`). */
  exchange: string;
  /** One user `<prefix>compute-<host>` per compute host. */
  computeHosts: readonly string[];
  /** Prepended to every user name (tests use one of their own). */
  prefix?: string;
  /** The RPC topics (libs/contracts: COMPUTE, SCHEDULER, POWER, NETBOOT, Nova's conductor). */
  topics: BrokerTopics;
  /** The deploy helper's job queue (`[deploy_helper] job_queue`). */
  jobQueue: string;
  /** oslo's `[oslo_messaging_notifications] topics`. */
  notificationTopics?: readonly string[];
}

export interface BrokerTopics {
  compute: string;
  scheduler: string;
  power: string;
  netboot: string;
  /** Nova's conductor topics, which compute calls when `[baremetal] nova_conductor` is on. */
  conductor: readonly string[];
}

export interface BrokerUser {
  name: string;
  role: BrokerRole;
  /** Set for a compute host's user. */
  host?: string;
  tags: string[];
  /** Vhost permissions: regular expressions over exchange and queue names. */
  configure: string;
  write: string;
  read: string;
  /** Topic permission on the control exchange: routing keys it may publish with. */
  topicWrite: string;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const anyOf = (names: string[]) => `^(${names.join('|')})$`;
const HEX32 = '[0-9a-f]{32}';
/** An RPC server's own queues and fanout exchange (topology.ts). */
const served = (topic: string) => [
  `${esc(topic)}`,
  `${esc(topic)}\\..+`,
  `${esc(topic)}_fanout`,
  `${esc(topic)}_fanout_${HEX32}`,
];
/** RPC topics as routing keys: `<topic>` and `<topic>.<server>`. */
const keys = (topics: string[]) => `^(${topics.map(esc).join('|')})(\\..+)?$`;

/** The users, in a fixed order. */
export function brokerUsers(o: BrokerUsersOptions): BrokerUser[] {
  const prefix = o.prefix ?? '';
  const TOPICS = o.topics;
  const notify = (o.notificationTopics ?? ['notifications']).map((t) => `${esc(t)}\\..+`);
  const jobs = [esc(JOBS_EXCHANGE), `${esc(o.jobQueue)}(\\.dead)?`];
  const notifyKeys = `^(${notify.join('|')})$`;
  const ex = esc(o.exchange);
  // Every service: the control exchange, its own reply queue, notification queues, and the
  // default exchange (replies go there, oslo-style).
  const base = {
    configure: [ex, `reply_${HEX32}`, ...notify],
    write: [ex, 'amq\\.default', `reply_${HEX32}`, ...notify],
    read: [ex, `reply_${HEX32}`],
  };
  const user = (
    name: string,
    role: BrokerRole,
    own: { configure?: string[]; write?: string[]; read?: string[] },
    topicWrite: string,
    host?: string,
  ): BrokerUser => ({
    name: `${prefix}${name}`,
    role,
    ...(host !== undefined ? { host } : {}),
    tags: [],
    configure: anyOf([...base.configure, ...(own.configure ?? [])]),
    write: anyOf([...base.write, ...(own.write ?? [])]),
    read: anyOf([...base.read, ...(own.read ?? [])]),
    topicWrite,
  });
  // A server declares its fanout exchange and binds a queue to it; only others publish to it.
  const server = (topic: string) => ({
    configure: served(topic),
    write: served(topic).filter((r) => r !== `${esc(topic)}_fanout`),
    read: served(topic),
  });
  const or = (...res: string[]) => res.join('|');

  const computes = o.computeHosts.map((host) => {
    const own = server(TOPICS.compute);
    // Its capability reports go to the scheduler's fanout exchange: only compute hosts may write there.
    own.configure.push(`${esc(TOPICS.scheduler)}_fanout`);
    own.write.push(`${esc(TOPICS.scheduler)}_fanout`);
    return user(
      `compute-${host}`,
      'compute',
      own,
      or(keys([TOPICS.scheduler, TOPICS.power, TOPICS.netboot, ...TOPICS.conductor]), notifyKeys),
      host,
    );
  });
  const scheduler = server(TOPICS.scheduler);
  scheduler.configure.push(`${esc(TOPICS.compute)}_fanout`);
  scheduler.write.push(`${esc(TOPICS.compute)}_fanout`);
  const operator: BrokerUser = {
    name: `${prefix}bmctl`,
    role: 'operator',
    // The management UI (and `bmctl queues`) for this vhost only.
    tags: ['management'],
    configure: '.*',
    write: '.*',
    read: '.*',
    topicWrite: '.*',
  };
  return [
    ...computes,
    user('scheduler', 'scheduler', scheduler, or(keys([TOPICS.compute]), notifyKeys)),
    user('power', 'power', server(TOPICS.power), notifyKeys),
    user('netboot', 'netboot', server(TOPICS.netboot), notifyKeys),
    user(
      'deploy-helper',
      'deploy-helper',
      { configure: jobs, write: jobs, read: jobs },
      or(keys([TOPICS.compute, TOPICS.netboot]), notifyKeys),
    ),
    user('images', 'images', {}, notifyKeys),
    // The rack view reads the database; on the bus it only keeps a connection (health).
    user('rack', 'rack', {}, notifyKeys),
    operator,
  ];
}

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ sha256(salt ‖ password)), 4-byte salt. */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** RabbitMQ definitions (JSON) creating the vhost, the users with their passwords, and their permissions. */
export function brokerDefinitions(
  o: BrokerUsersOptions,
  users: readonly BrokerUser[],
  passwords: Readonly<Record<string, string>>,
): object {
  const pw = (name: string) => {
    const p = passwords[name];
    if (!p) throw new Error(`no password for broker user ${name}`);
    return p;
  };
  return {
    vhosts: [{ name: o.vhost }],
    users: users.map((u) => ({
      name: u.name,
      password_hash: rabbitPasswordHash(pw(u.name)),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: u.tags.join(','),
    })),
    permissions: users.map((u) => ({
      user: u.name,
      vhost: o.vhost,
      configure: u.configure,
      write: u.write,
      read: u.read,
    })),
    topic_permissions: users.map((u) => ({
      user: u.name,
      vhost: o.vhost,
      exchange: o.exchange,
      write: u.topicWrite,
      read: '.*',
    })),
  };
}

/** A fresh password: 24 random bytes, hex (nothing to escape in a URL or a shell). */
export const newBrokerPassword = (): string => randomBytes(24).toString('hex');

/** Runs `rabbitmqctl ARGS` with `input` on its stdin; rejects when it fails. */
export type Rabbitmqctl = (args: readonly string[], input?: string) => Promise<void>;

/** Creates or updates the vhost, users and permissions (idempotent: a re-import overwrites). */
export async function importBrokerUsers(
  ctl: Rabbitmqctl,
  o: BrokerUsersOptions,
  users: readonly BrokerUser[],
  passwords: Readonly<Record<string, string>>,
): Promise<void> {
  // On stdin: the hashes never reach a command line or a file.
  await ctl(['import_definitions', '--format', 'json'], JSON.stringify(brokerDefinitions(o, users, passwords)));
}
