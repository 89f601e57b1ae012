import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_AMQP_URL, eventually, uniqueName } from './support/amqp';
import { ROOT, bmctl, requireBuilt } from './support/bmctl';
import { createNovaBmDatabase, type NovaBmDatabase } from './support/database';
import { TEST_PASSWORD_KEY_FILE } from './support/passwords';
import { freeTcpPort } from './support/ports';

// The built bmctl and a built service read several --config-file and a --config-dir as
// oslo.config does: in command-line order, the last file that sets an option winning. Nothing
// comes from the environment here: every value is in the files.
describe('several config files and a config directory, in the built programs', () => {
  let db: NovaBmDatabase;
  let dir: string;
  const conf = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 }); // it holds the database URL
    return path;
  };

  beforeAll(async () => {
    requireBuilt('cli');
    requireBuilt('scheduler');
    db = await createNovaBmDatabase('bm_conf');
    dir = mkdtempSync(join(tmpdir(), 'bm-conf-e2e-'));
    mkdirSync(join(dir, 'nova.conf.d'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bmctl: the second file gives the database, the directory (last) the host', async () => {
    const a = conf(
      'a.conf',
      '[DEFAULT]\nhost = from-a\n[baremetal]\nsql_connection = postgresql://postgres@127.0.0.1:1/nowhere\n' +
        `pm_password_key_file = ${TEST_PASSWORD_KEY_FILE}\n`,
    );
    const b = conf('b.conf', `[DEFAULT]\nhost = from-b\n[baremetal]\nsql_connection = ${db.url}\n`);
    conf('nova.conf.d/10-first.conf', '[DEFAULT]\nhost = from-dir-10\n');
    const last = conf(
      'nova.conf.d/20-last.conf',
      '[DEFAULT]\nhost = from-dir-20\n[baremetal]\nbaremetal_tftp_root = /srv/t\n',
    );
    const flags = ['--config-file', a, '--config-file', b, '--config-dir', join(dir, 'nova.conf.d')];

    const r = await bmctl([...flags, 'node', 'import', 'deploy/baremetal.csv'], {});
    expect([r.code, r.err]).toEqual([
      0,
      `warning: ${last}:4: [baremetal] baremetal_tftp_root: deprecated name: use tftp_root in [baremetal]\n`,
    ]);
    const hosts: { service_host: string }[] = await db.ds.query('SELECT DISTINCT service_host FROM bm_nodes');
    expect(hosts).toEqual([{ service_host: 'from-dir-20' }]);
  });

  it('a service: its start-up line shows the host and exchange of the files read last', async () => {
    const exchange = uniqueName('conf');
    const port = await freeTcpPort();
    const a = conf(
      'svc-a.conf',
      `[DEFAULT]\nhost = svc-a\ncontrol_exchange = ${exchange}-a\ntransport_url = ${TEST_AMQP_URL}\n` +
        `health_port = ${port}\n[baremetal]\nsql_connection = ${db.url}\n`,
    );
    mkdirSync(join(dir, 'svc.d'));
    conf('svc.d/x.conf', `[DEFAULT]\nhost = svc-dir\ncontrol_exchange = ${exchange}\n`);
    const b = conf('svc-b.conf', '[DEFAULT]\nhost = svc-b\n');
    // The directory comes between the files: it overrides a, and b overrides it.
    const args = ['--config-file', a, '--config-dir', join(dir, 'svc.d'), '--config-file', b];
    const child = spawn(process.execPath, [join(ROOT, 'dist/apps/scheduler/main.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH! },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      await eventually(() => expect(out).toContain(' rpc='), 20_000, 100).catch(() => {
        throw new Error(`the scheduler did not start; its output:\n${out}`);
      });
      expect(out).toContain(`host=svc-b `);
      expect(out).toContain(` rpc=${exchange}/scheduler.svc-b `);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).not.toContain('.conf:'); // no configuration warning (they name file and line)
  });
});
