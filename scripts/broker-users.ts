/**
 * One RabbitMQ user per service on a vhost, with the permissions of libs/messaging
 * broker-users.ts. Run through `bash scripts/services.sh broker-users …`.
 *
 *   broker-users.ts --vhost V --compute-host H [--compute-host H2…] [--exchange nova]
 *                   [--prefix P] [--broker 127.0.0.1:5672] [--dir .lab/broker] [--job-queue Q]
 *                   [--for lab|compose]
 *
 * The passwords are generated once into DIR/passwords (mode 600, `user password` lines) and
 * re-used, so a second run changes nothing. Then, `--for lab` (default; root on the broker's
 * machine): the users are imported with `rabbitmqctl import_definitions` on stdin, and DIR/env
 * (mode 600) gets each service's transport URL for the shell: BROKER_URL_COMPUTE, _SCHEDULER,
 * _POWER, _NETBOOT, _DEPLOY_HELPER, _IMAGES, _RACK, _OPERATOR (_COMPUTE_<n> for more compute hosts).
 * `--for compose`: DIR/definitions.json for the broker to load at boot (password hashes only;
 * mode 644, the broker's container user reads it) and DIR/compose.env (mode 600) with
 * BROKER_PASSWORD_<ROLE> for `docker compose --env-file`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BROKER_TOPICS } from '@bm/contracts';
import { CommandRunner } from '@bm/exec';
import {
  type BrokerUser,
  type BrokerUsersOptions,
  brokerDefinitions,
  brokerUsers,
  importBrokerUsers,
  newBrokerPassword,
} from '@bm/messaging';

function args(argv: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined)
      throw new Error(`usage: see the head of scripts/broker-users.ts (at ${k})`);
    (out[k.slice(2)] ??= []).push(v);
  }
  return out;
}

/** Writes a file only its owner reads, without a moment where it is readable by others. */
function writePrivate(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  chmodSync(`${path}.tmp`, 0o600);
  renameSync(`${path}.tmp`, path);
}

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  const one = (k: string, d?: string) =>
    a[k]?.[a[k].length - 1] ??
    d ??
    (() => {
      throw new Error(`--${k} is required`);
    })();
  const o: BrokerUsersOptions = {
    vhost: one('vhost'),
    exchange: one('exchange', 'nova'),
    computeHosts: a['compute-host'] ?? [],
    prefix: one('prefix', ''),
    topics: BROKER_TOPICS,
    jobQueue: one('job-queue', 'baremetal.deploy'),
  };
  if (o.computeHosts.length === 0) throw new Error('--compute-host is required');
  const dir = one('dir', '.lab/broker');
  const broker = one('broker', '127.0.0.1:5672');
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const file = join(dir, 'passwords');
  const passwords: Record<string, string> = {};
  if (existsSync(file))
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [user, pw] = line.split(' ');
      if (user && pw) passwords[user] = pw;
    }
  const users = brokerUsers(o);
  for (const u of users) passwords[u.name] ??= newBrokerPassword();
  writePrivate(
    file,
    Object.entries(passwords)
      .map(([u, p]) => `${u} ${p}\n`)
      .join(''),
  );

  const computes = users.filter((u) => u.role === 'compute');
  const varName = (u: BrokerUser) => {
    const n = computes.indexOf(u);
    return `${u.role.toUpperCase().replace('-', '_')}${n > 0 ? `_${n}` : ''}`;
  };

  if (one('for', 'lab') === 'compose') {
    writeFileSync(join(dir, 'definitions.json'), JSON.stringify(brokerDefinitions(o, users, passwords), null, 2), {
      mode: 0o644,
    });
    const env = users.map((u) => `BROKER_PASSWORD_${varName(u)}=${passwords[u.name]}\n`).join('');
    writePrivate(join(dir, 'compose.env'), `# Written by scripts/broker-users.ts --for compose.\n${env}`);
    process.stdout.write(`broker definitions for compose in ${dir}: ${users.map((u) => u.name).join(', ')}\n`);
    return;
  }

  const runner = new CommandRunner();
  await importBrokerUsers(
    async (ctlArgs, input) => {
      const r = await runner.run('rabbitmqctl', ctlArgs, { input, timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`rabbitmqctl ${ctlArgs[0]} failed: ${r.stderr || r.stdout}`);
    },
    o,
    users,
    passwords,
  );

  const vhost = o.vhost === '/' ? '' : encodeURIComponent(o.vhost);
  const lines = users.map(
    (u) =>
      `export BROKER_URL_${varName(u)}='rabbit://${encodeURIComponent(u.name)}:${passwords[u.name]}@${broker}/${vhost}'\n`,
  );
  writePrivate(
    join(dir, 'env'),
    `# Written by scripts/broker-users.ts: the services' broker logins (vhost ${o.vhost}).\n${lines.join('')}`,
  );
  process.stdout.write(`broker users on vhost ${o.vhost}: ${users.map((u) => u.name).join(', ')}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`broker-users: ${e.message}\n`);
  process.exit(1);
});
