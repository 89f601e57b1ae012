import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeEventRepository, openDataSource } from '@bm/db';
import { type BmctlRun, bmctl, requireBuilt } from '../../../test/support/bmctl';
import { unusedDatabase, type ScratchDatabase } from '../../../test/support/database';
import { TEST_PASSWORD_KEY_FILE } from '../../../test/support/passwords';

// End to end: the built bmctl (npm run build) as an operator runs it, against real PostgreSQL.
const SECRET = 'pw-Zq81,"quoted"';
const t = (s: number) => new Date(`2024-03-04T05:00:0${s}Z`);

describe('bmctl (built binary) against PostgreSQL', () => {
  let db: ScratchDatabase;
  let env: Record<string, string>;
  let dir: string;
  const runs: BmctlRun[] = [];
  const run = async (args: string[], extraEnv: Record<string, string> = {}, stdin?: string) => {
    const r = await bmctl(args, { ...env, ...extraEnv }, stdin);
    runs.push(r);
    return r;
  };

  beforeAll(() => {
    requireBuilt();
    db = unusedDatabase('bm_e2e');
    env = { DATABASE_URL: db.url, BM_HOST: 'cn-e2e', BM_PM_PASSWORD_KEY_FILE: TEST_PASSWORD_KEY_FILE };
    dir = mkdtempSync(join(tmpdir(), 'bmctl-'));
  });
  afterAll(async () => {
    await db?.drop();
  });
  afterAll(() => {
    // The password is never printed by any command, whatever it did.
    for (const r of runs) expect(r.out + r.err).not.toContain('Zq81');
  });

  it('says what to do when the database does not exist yet', async () => {
    const r = await run(['node', 'list']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/does not exist.*bmctl db sync --create-database/);
  });

  it('db sync --create-database creates and migrates; db version reports it', async () => {
    const r = await run(['db', 'sync', '--create-database']);
    expect([r.code, r.out.trim()]).toEqual([0, 'nova_bm schema: version 0 -> 19']);
    expect((await run(['db', 'version'])).out.trim()).toBe('19');
    expect((await run(['db', 'sync', '--version', '10'])).out.trim()).toBe('nova_bm schema: version 19 -> 10');
    expect(JSON.parse((await run(['db', 'version', '--json'])).out)).toEqual({ version: 10, latest: 19 });
    expect((await run(['db', 'sync'])).out.trim()).toBe('nova_bm schema: version 10 -> 19');
  });

  it('imports deploy/baremetal.csv and lists the nodes', async () => {
    const r = await run(['node', 'import', 'deploy/baremetal.csv']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('enrolled 3 nodes from deploy/baremetal.csv');
    const list = await run(['node', 'list', '--long']);
    expect(list.code).toBe(0);
    for (const mac of ['52:54:00:b3:00:01', '52:54:00:b3:00:02', '52:54:00:b3:00:03']) expect(list.out).toContain(mac);
    expect(list.out).toContain('******');
    const nodes = JSON.parse((await run(['node', 'list', '--long', '--json'])).out);
    expect(
      nodes.map((n: { ID: number; Host: string; 'PM Password': string }) => [n.ID, n.Host, n['PM Password']]),
    ).toEqual([
      [1, 'cn-e2e', '******'],
      [2, 'cn-e2e', '******'],
      [3, 'cn-e2e', '******'],
    ]);
  });

  it('a file with one bad row changes nothing and names the row', async () => {
    const file = join(dir, 'more.csv');
    writeFileSync(
      file,
      [
        `52:54:00:c0:00:01,admin,"${SECRET.replace(/"/g, '""')}",10.2.0.1,4,8192,100`,
        `52:54:00:c0:00:02,admin,"${SECRET.replace(/"/g, '""')}",10.2.0.2,4,0,100`,
        `52:54:00:c0:00:03,admin,"${SECRET.replace(/"/g, '""')}",10.2.0.3,4,8192,100`,
      ].join('\n'),
    );
    const before = (await run(['node', 'list', '--json'])).out;
    const r = await run(['node', 'import', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('rejected, nothing was enrolled (1 bad row)');
    expect(r.err).toContain('line 2: memory_mb: must be a positive integer');
    expect((await run(['node', 'list', '--json'])).out).toBe(before);

    const again = await run(['node', 'import', 'deploy/baremetal.csv']);
    expect(again.code).toBe(1);
    expect(again.err).toContain('line 4: mac: 52:54:00:b3:00:01 is already enrolled on node 1');
  });

  it('--dry-run validates without writing; --skip-enrolled makes a re-import idempotent', async () => {
    const file = join(dir, 'ok.csv');
    writeFileSync(file, `52:54:00:c1:00:01,admin,"${SECRET.replace(/"/g, '""')}",10.2.1.1,4,8192,100\n`);
    const dry = await run(['node', 'import', '--dry-run', file]);
    expect([dry.code, dry.out]).toEqual([
      0,
      expect.stringContaining('1 node would be enrolled (dry run: nothing was written)'),
    ]);
    expect(JSON.parse((await run(['node', 'list', '--json'])).out)).toHaveLength(3);
    const skip = await run(['node', 'import', '--skip-enrolled', 'deploy/baremetal.csv']);
    expect(skip.code).toBe(0);
    expect(skip.out).toContain('enrolled 0 nodes from deploy/baremetal.csv, skipped 3');
  });

  it('node create / show / interface add, list, remove / node delete', async () => {
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, SECRET + '\n', { mode: 0o600 });
    const c = await run([
      'node',
      'create',
      '--json',
      '--mac',
      '52:54:00:d0:00:01',
      '--cpus',
      '8',
      '--memory-mb',
      '16384',
      '--local-gb',
      '200',
      '--pm-address',
      'bmc-9.lab:6239',
      '--pm-user',
      'root',
      '--pm-password-file',
      pwFile,
      '--cpu-arch',
      'x86_64',
    ]);
    expect(c.code).toBe(0);
    const node = JSON.parse(c.out);
    expect(node).toMatchObject({ id: 4, pm_address: 'bmc-9.lab:6239', pm_password: '******', service_host: 'cn-e2e' });

    const stdinPw = await run(
      [
        'node',
        'create',
        '--mac',
        '52:54:00:d0:00:09',
        '--cpus',
        '1',
        '--memory-mb',
        '512',
        '--local-gb',
        '5',
        '--pm-address',
        '10.9.0.9',
        '--pm-password-file',
        '-',
      ],
      {},
      SECRET,
    );
    expect(stdinPw.code).toBe(0);

    expect((await run(['interface', 'add', node.uuid, '52-54-00-D0-00-02', '--port-no', '7'])).code).toBe(0);
    const list = await run(['interface', 'list', '4']);
    expect(list.out).toMatch(/52:54:00:d0:00:01[\s\S]*52:54:00:d0:00:02/);
    const dup = await run(['interface', 'add', '4', '52:54:00:b3:00:01']);
    expect([dup.code, dup.err.trim()]).toEqual([
      1,
      'bmctl: DuplicateMac: MAC 52:54:00:b3:00:01 is already enrolled on node 1',
    ]);
    expect((await run(['interface', 'remove', '4', '52:54:00:d0:00:02'])).code).toBe(0);

    const show = await run(['node', 'show', '4']);
    expect(show.out).toMatch(/pm_password\s*│ \*\*\*\*\*\*/);
    expect((await run(['node', 'delete', node.uuid])).out.trim()).toBe(`deleted node 4 (${node.uuid})`);
    const gone = await run(['node', 'show', '4']);
    expect([gone.code, gone.err.trim()]).toEqual([1, 'bmctl: NodeNotFound: Node 4 could not be found.']);
  });

  it('node timeline prints what was recorded for a node, oldest first; --since, --limit, --json', async () => {
    const ds = await openDataSource(db.url);
    try {
      const events = new NodeEventRepository(ds);
      await events.recordMany([
        { nodeId: 1, source: 'compute', kind: 'state', detail: 'building', at: new Date('2024-03-04T05:00:02Z') },
        { nodeId: 1, source: 'power', kind: 'power.on', detail: 'chassis power on', durationMs: 85, at: t(1) },
        { nodeId: 2, source: 'power', kind: 'power.off', detail: 'another node', at: t(0) },
        { nodeId: 1, source: 'netboot', kind: 'tftp.file', detail: 'pxelinux.0', bytes: 26_579, at: t(3) },
        { nodeId: 1, source: 'netboot', kind: 'dhcp.ack', detail: '10.1.0.5 to 52:54:00:b3:00:01', at: t(2) },
      ]);
    } finally {
      await ds.destroy();
    }
    const [node1] = JSON.parse((await run(['node', 'list', '--json'])).out) as { UUID: string }[];

    const human = await run(['node', 'timeline', node1.UUID]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/Time \(UTC\)\s*│ Source\s*│ Kind\s*│ Detail\s*│ Duration\s*│ Bytes/);
    // Oldest first, by time then by id (the order recorded within one second).
    const rows = human.out.split('\n').filter((l) => l.startsWith('│ 2024-'));
    expect(rows.map((l) => l.split('│').map((c) => c.trim()))).toEqual([
      ['', '2024-03-04T05:00:01.000Z', 'power', 'power.on', 'chassis power on', '85 ms', '', ''],
      ['', '2024-03-04T05:00:02.000Z', 'compute', 'state', 'building', '', '', ''],
      ['', '2024-03-04T05:00:02.000Z', 'netboot', 'dhcp.ack', '10.1.0.5 to 52:54:00:b3:00:01', '', '', ''],
      ['', '2024-03-04T05:00:03.000Z', 'netboot', 'tftp.file', 'pxelinux.0', '', '26579', ''],
    ]);
    expect(human.out).not.toContain('another node');

    const json = await run(['node', 'timeline', '1', '--json']);
    expect(JSON.parse(json.out)).toEqual([
      {
        id: 2,
        nodeId: 1,
        at: '2024-03-04T05:00:01.000Z',
        source: 'power',
        kind: 'power.on',
        detail: 'chassis power on',
        durationMs: 85,
        bytes: null,
        instanceUuid: null,
      },
      expect.objectContaining({ id: 1, kind: 'state', at: '2024-03-04T05:00:02.000Z' }),
      expect.objectContaining({ id: 5, kind: 'dhcp.ack', at: '2024-03-04T05:00:02.000Z' }),
      expect.objectContaining({ id: 4, kind: 'tftp.file', bytes: 26579 }),
    ]);
    const kinds = async (args: string[]) =>
      (JSON.parse((await run(['node', 'timeline', '1', '--json', ...args])).out) as { kind: string }[]).map(
        (e) => e.kind,
      );
    expect(await kinds(['--limit', '2'])).toEqual(['dhcp.ack', 'tftp.file']);
    expect(await kinds(['--since', '2024-03-04T05:00:02'])).toEqual(['state', 'dhcp.ack', 'tftp.file']);
    expect(await kinds(['--since', '2024-03-04T06:00:02+01:00', '--limit', '1'])).toEqual(['tftp.file']);
    expect((await run(['node', 'timeline', '3'])).out.trim()).toBe('no events recorded for node 3');

    const unknown = await run(['node', 'timeline', '999']);
    expect([unknown.code, unknown.err.trim()]).toEqual([1, 'bmctl: NodeNotFound: Node 999 could not be found.']);
    const badLimit = await run(['node', 'timeline', '1', '--limit', '0']);
    expect([badLimit.code, badLimit.err]).toEqual([64, expect.stringContaining('must be from 1 to 10000')]);
    const badSince = await run(['node', 'timeline', '1', '--since', 'yesterday']);
    expect([badSince.code, badSince.err]).toEqual([64, expect.stringContaining('must be an ISO 8601 time')]);
  });

  it('db gen-key writes a key once; db re-encrypt seals clear passwords and rotates to a new key', async () => {
    const key = join(dir, 'new.key');
    expect((await run(['db', 'gen-key', key])).code).toBe(0);
    expect((statSync(key).mode & 0o777).toString(8)).toBe('600');
    const again = await run(['db', 'gen-key', key]);
    expect([again.code, again.err]).toEqual([1, expect.stringContaining('EEXIST')]);
    expect((await run(['db', 'gen-key', '--if-missing', key])).code).toBe(0);
    const ds = await openDataSource(db.url);
    try {
      await ds.query(`UPDATE bm_nodes SET pm_password = 'legacy-pw' WHERE id = 1`); // stored before sealing
      const rotate = await run(['db', 're-encrypt', '--old-key-file', TEST_PASSWORD_KEY_FILE, '--json'], {
        BM_PM_PASSWORD_KEY_FILE: key,
      });
      expect(rotate.code).toBe(0);
      expect(JSON.parse(rotate.out)).toMatchObject({ sealed: 1, unchanged: 0 });
      expect(JSON.parse(rotate.out).rekeyed).toBeGreaterThan(0);
      const rows: { pm_password: string }[] = await ds.query(
        'SELECT pm_password FROM bm_nodes WHERE deleted = false AND pm_password IS NOT NULL',
      );
      expect(rows.every((r) => r.pm_password.startsWith('bmpw1:'))).toBe(true);
      const deleted = await ds.query(
        'SELECT count(*)::int AS n FROM bm_nodes WHERE deleted AND pm_password IS NOT NULL',
      );
      expect(deleted).toEqual([{ n: 0 }]);
      // The old key no longer opens them: re-encrypting with it names a node and the way out.
      const wrong = await run(['db', 're-encrypt']);
      expect([wrong.code, wrong.err]).toEqual([
        3,
        expect.stringMatching(/node \d+'s BMC password was encrypted with key/),
      ]);
      // Back to the test key, for the tests after this one.
      expect((await run(['db', 're-encrypt', '--old-key-file', key])).code).toBe(0);
    } finally {
      await ds.destroy();
    }
  });

  it('bad input gets a clear error and a meaningful exit code', async () => {
    const bad = await run([
      'node',
      'create',
      '--mac',
      'nope',
      '--cpus',
      '1',
      '--memory-mb',
      '1',
      '--local-gb',
      '1',
      '--pm-address',
      '10.0.0.1',
    ]);
    expect([bad.code, bad.err]).toEqual([1, expect.stringContaining("macs: 'nope' is not a MAC address")]);
    const usage = await run(['node', 'frobnicate']);
    expect([usage.code, usage.err]).toEqual([64, expect.stringContaining("unknown command 'frobnicate'")]);
    const missing = await run(['node', 'import', join(dir, 'no-such.csv')]);
    expect([missing.code, missing.err]).toEqual([1, expect.stringContaining('ENOENT')]);
    const help = await run(['node', 'import', '--help']);
    expect([help.code, help.out]).toEqual([0, expect.stringContaining('--dry-run')]);
  });

  it('configuration errors exit 3 and name the option; an unreachable database exits 4', async () => {
    const sample = await run(['--config-file', 'libs/config/test-fixtures/nova.conf.sample', 'node', 'list'], {
      DATABASE_URL: '',
    });
    expect(sample.code).toBe(3);
    expect(sample.err).toMatch(/nova\.conf\.sample:2: \[baremetal\] sql_connection: .*not supported yet/);
    expect(sample.err).not.toContain('$Password');
    const badEnv = await run(['node', 'list'], { BM_PXE_DEPLOY_TIMEOUT: 'soon' });
    expect([badEnv.code, badEnv.err]).toEqual([3, expect.stringContaining('pxe_deploy_timeout')]);
    const down = await run(['node', 'list'], { DATABASE_URL: 'postgresql://postgres:hunter2@127.0.0.1:1/nova_bm' });
    expect([down.code, down.err.trim()]).toEqual([
      4,
      'bmctl: cannot reach PostgreSQL at postgresql://postgres:****@127.0.0.1:1/nova_bm (ECONNREFUSED)',
    ]);
  });
});
