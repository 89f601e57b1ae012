/**
 * What a benchmark needs on this machine, brought in the way the tests get it (scripts/services.sh):
 *   - the Debian packages of deploy/apt-packages.txt (the peers: in.tftpd, dnsmasq, perfdhcp,
 *     ipmitool, ipmi_sim, pyghmi, oslo.messaging, tgt, qemu-img, …): when one is not installed,
 *     `bash scripts/services.sh packages` installs the missing ones;
 *   - PostgreSQL and RabbitMQ when the bench uses them and nothing answers on their ports:
 *     `bash scripts/services.sh servers`;
 *   - the PostgreSQL login (TEST_DATABASE_URL): on a PostgreSQL that does not let `postgres` in
 *     without a password, services.sh makes the role nova_bm and writes its URL to
 *     .lab/database.env, read from there unless TEST_DATABASE_URL is set.
 * When everything is there it costs one read of dpkg's status file, a TCP connect per server and,
 * for a bench on PostgreSQL without TEST_DATABASE_URL, one `services.sh database` (a psql login).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const DPKG_STATUS = '/var/lib/dpkg/status';

/** The packages of deploy/apt-packages.txt that dpkg does not list as installed (none off Debian). */
export function missingPackages(): string[] {
  if (!existsSync(DPKG_STATUS)) return [];
  const wanted = readFileSync(join(ROOT, 'deploy/apt-packages.txt'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0])
    .filter(Boolean);
  const installed = new Set<string>();
  for (const stanza of readFileSync(DPKG_STATUS, 'utf8').split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (name && /^Status: install ok installed$/m.test(stanza)) installed.add(name);
  }
  return wanted.filter((p) => !installed.has(p));
}

function services(step: 'packages' | 'servers' | 'database'): void {
  const r = spawnSync('bash', [join(ROOT, 'scripts/services.sh'), step], { stdio: 'inherit' });
  if (r.status !== 0)
    throw new Error(`bash scripts/services.sh ${step} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port, timeout: 1000 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

/** TEST_DATABASE_URL from .lab/database.env (written by services.sh on a PostgreSQL without trust). */
function testDatabaseUrlFromLab(): string | undefined {
  const file = join(ROOT, '.lab/database.env');
  if (!existsSync(file)) return undefined;
  return /^export TEST_DATABASE_URL="\$\{TEST_DATABASE_URL:-(.+)\}"$/m.exec(readFileSync(file, 'utf8'))?.[1];
}

export interface BenchNeeds {
  /** Uses the machine's PostgreSQL (through TEST_DATABASE_URL, defaulted as the tests do). */
  postgres?: boolean;
  /** Uses the machine's RabbitMQ on 127.0.0.1:5672. */
  rabbitmq?: boolean;
}

/** Installs the missing peers and starts the servers a bench needs; see the file comment. */
export async function ensurePeers(needs: BenchNeeds = {}): Promise<void> {
  const missing = missingPackages();
  if (missing.length > 0) {
    console.error(`bench: Debian packages missing (${missing.join(' ')}): bash scripts/services.sh packages`);
    services('packages');
  }
  const down =
    (needs.postgres && !process.env.TEST_DATABASE_URL && !(await listening(5432))) ||
    (needs.rabbitmq && !(await listening(5672)));
  if (down) services('servers');
  if (needs.postgres && !process.env.TEST_DATABASE_URL) {
    services('database');
    const url = testDatabaseUrlFromLab();
    if (url) process.env.TEST_DATABASE_URL = url;
  }
}
