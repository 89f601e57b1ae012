import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEPLOY_JOBS } from '@bm/contracts';
import { LATEST_VERSION } from '@bm/db';
import { AmqpConnection, DeadLetters, JobQueue } from '@bm/messaging';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { bmctl, requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ImagesService, startImages } from '../../../test/support/images';
import { type ServiceSite, siteEnv, siteJobQueue } from '../../../test/support/service';
import { csvObjects, flat, parseCsv } from './formats';

// The rest of an operator's bmctl, built, against real PostgreSQL and RabbitMQ (no nodes, no
// VMs): every output format parsed back, flavors, interfaces across nodes, hypervisor stats,
// dead-lettered jobs, --version, and the progress of an image upload when not on a terminal.
// Each test runs bmctl a dozen times (a second each, several on a busy machine).
jest.setTimeout(180_000);

describe('bmctl output formats, flavors, interfaces, hypervisor stats, dead letters', () => {
  let db: NovaBmDatabase;
  let work: string;
  let env: Record<string, string>;
  let site: ServiceSite;
  const cli = (...args: string[]) => bmctl(args, env);
  /** Runs bmctl and returns its stdout, failing the test on a non-zero exit. */
  const out = async (...args: string[]) => {
    const r = await cli(...args);
    if (r.code !== 0) throw new Error(`bmctl ${args.join(' ')}: exit ${r.code}: ${r.err}`);
    return r.out;
  };

  beforeAll(async () => {
    requireBuilt();
    work = await mkdtemp(join(tmpdir(), 'bmctl-ops-'));
    db = await createNovaBmDatabase('bm_cli_ops');
    site = { databaseUrl: db.url, exchange: uniqueName('ops'), host: 'cn-ops' };
    env = siteEnv(site);
    // Three nodes: 1 CPU 1024 MB 10 GB, 2/2048/20, 2/4096/40 (ids 1, 2, 3).
    expect((await cli('node', 'import', 'deploy/baremetal.csv')).code).toBe(0);
  });
  afterAll(async () => {
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('--version names bmctl and the nova_bm schema version it expects', async () => {
    expect((await out('--version')).trim()).toBe(`bmctl 0.1.0 (nova_bm schema version ${LATEST_VERSION})`);
  });

  it('flavor list: json, yaml, csv and value parse back to the same rows; -c picks columns; --long adds some', async () => {
    await out(
      'flavor',
      'create',
      'bm.small',
      '--vcpus',
      '1',
      '--ram',
      '1024',
      '--disk',
      '10',
      '--property',
      'cpu_arch=x86_64',
    );
    await out(
      'flavor',
      'create',
      'bm "big", really',
      '--vcpus',
      '2',
      '--ram',
      '4096',
      '--disk',
      '40',
      '--swap',
      '64',
      '--property',
      'cpu_arch=x86_64',
      '--property',
      'note=a "quoted", list',
    );
    const json = JSON.parse(await out('flavor', 'list', '-f', 'json')) as Record<string, unknown>[];
    expect(json).toEqual([
      {
        ID: 1,
        Name: 'bm.small',
        VCPUs: 1,
        RAM: 1024,
        Disk: 10,
        Ephemeral: 0,
        Swap: 0,
        Properties: { cpu_arch: 'x86_64' },
      },
      {
        ID: 2,
        Name: 'bm "big", really',
        VCPUs: 2,
        RAM: 4096,
        Disk: 40,
        Ephemeral: 0,
        Swap: 64,
        Properties: { cpu_arch: 'x86_64', note: 'a "quoted", list' },
      },
    ]);
    // --json is -f json, before or after the command's name.
    expect(JSON.parse(await out('--json', 'flavor', 'list'))).toEqual(json);
    expect(parseYaml(await out('flavor', 'list', '-f', 'yaml'))).toEqual(json);
    expect(csvObjects(await out('flavor', 'list', '-f', 'csv'))).toEqual(
      json.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, flat(v)]))),
    );
    expect((await out('flavor', 'list', '-f', 'value', '-c', 'Name', '-c', 'ID')).trim().split('\n')).toEqual([
      'bm.small 1',
      'bm "big", really 2',
    ]);
    const table = await out('flavor', 'list');
    expect(table).toMatch(/│ ID │ Name +│ VCPUs │ RAM +│ Disk │ Ephemeral │ Swap │ Properties +│/);
    expect(table).toMatch(/│ +│ +│ +│ +│ +│ +│ +│ note=a "quoted", list │/);
    const long = JSON.parse(await out('flavor', 'list', '--long', '-f', 'json')) as Record<string, unknown>[];
    expect(Object.keys(long[0])).toEqual([...Object.keys(json[0]), 'Created', 'Updated']);
    expect(new Date(long[0].Created as string).getTime()).toBeGreaterThan(Date.now() - 600_000);
    const bad = await cli('flavor', 'list', '-c', 'Nmae');
    expect([bad.code, bad.err.trim()]).toEqual([
      64,
      'bmctl: no column "Nmae" (-c); columns: ID, Name, VCPUs, RAM, Disk, Ephemeral, Swap, Properties, Created, Updated',
    ]);
  });

  it('flavor show, set, unset and delete, as openstack flavor *', async () => {
    const shown = JSON.parse(await out('flavor', 'show', 'bm.small', '-f', 'json')) as Record<string, unknown>;
    expect(shown).toMatchObject({
      id: 1,
      name: 'bm.small',
      vcpus: 1,
      memory_mb: 1024,
      extra_specs: { cpu_arch: 'x86_64' },
    });
    // By id too; every format of the record says the same.
    expect(parseYaml(await out('flavor', 'show', '1', '-f', 'yaml'))).toEqual(shown);
    const [head, values] = parseCsv((await out('flavor', 'show', '1', '-f', 'csv')).trim());
    expect(Object.fromEntries(head.map((h, i) => [h, values[i]]))).toEqual(
      Object.fromEntries(Object.entries(shown).map(([k, v]) => [k, flat(v)])),
    );
    expect((await out('flavor', 'show', '1', '-f', 'value', '-c', 'name', '-c', 'vcpus')).trim()).toBe('bm.small\n1');
    expect(await out('flavor', 'show', '1')).toMatch(/│ Field +│ Value +│[\s\S]*│ extra_specs +│ cpu_arch=x86_64 +│/);

    const set = JSON.parse(
      await out('flavor', 'set', 'bm.small', '--property', 'a=1', '--property', 'b=x=y', '--json'),
    ) as Record<string, unknown>;
    expect(set.extra_specs).toEqual({ cpu_arch: 'x86_64', a: '1', b: 'x=y' });
    expect(set.updated_at).toEqual(expect.any(String));
    const unset = JSON.parse(await out('flavor', 'unset', '1', '--property', 'a', '--json')) as Record<string, unknown>;
    expect(unset.extra_specs).toEqual({ cpu_arch: 'x86_64', b: 'x=y' });
    const missing = await cli('flavor', 'unset', '1', '--property', 'a', '--property', 'zz');
    expect([missing.code, missing.err.trim()]).toEqual([1, 'bmctl: flavor 1 has no property "a", "zz"']);
    const cleared = JSON.parse(
      await out('flavor', 'set', '1', '--property', 'c=3', '--no-property', '--json'),
    ) as Record<string, unknown>;
    expect(cleared.extra_specs).toEqual({ c: '3' });
    for (const args of [
      ['set', '1'],
      ['unset', '1'],
      ['set', '1', '--property', '=v'],
    ]) {
      expect((await cli('flavor', ...args)).code).toBe(64);
    }

    expect((await out('flavor', 'delete', 'bm.small')).trim()).toBe('deleted flavor bm.small (id 1)');
    const gone = await cli('flavor', 'show', 'bm.small');
    expect([gone.code, gone.err.trim()]).toEqual([1, 'bmctl: FlavorNotFound: Flavor bm.small could not be found.']);
    // Its name is free again.
    expect(
      JSON.parse(await out('flavor', 'create', 'bm.small', '--vcpus', '1', '--ram', '1', '--disk', '1', '-f', 'json')),
    ).toMatchObject({
      id: 3,
      name: 'bm.small',
    });
  });

  it('interface list across the nodes (--node), interface show by id or MAC, in every format', async () => {
    const all = JSON.parse(await out('interface', 'list', '-f', 'json')) as Record<string, unknown>[];
    expect(all.map((i) => [i.Node, i.Address])).toEqual([
      [1, '52:54:00:b3:00:01'],
      [2, '52:54:00:b3:00:02'],
      [3, '52:54:00:b3:00:03'],
    ]);
    expect(csvObjects(await out('interface', 'list', '-f', 'csv'))).toEqual(
      all.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, flat(v)]))),
    );
    expect(JSON.parse(await out('interface', 'list', '--node', '2', '-f', 'json'))).toEqual([all[1]]);
    expect(JSON.parse(await out('interface', 'list', '2', '-f', 'json'))).toEqual([all[1]]);
    const long = JSON.parse(await out('interface', 'list', '--long', '-f', 'json')) as Record<string, unknown>[];
    expect(long[0]['Node UUID']).toMatch(/^[0-9a-f-]{36}$/);

    const id = String(all[1].ID);
    const shown = JSON.parse(await out('interface', 'show', id, '-f', 'json')) as Record<string, unknown>;
    expect(shown).toEqual({
      id: all[1].ID,
      address: '52:54:00:b3:00:02',
      datapath_id: null,
      port_no: null,
      vif_uuid: null,
      node_id: 2,
      node_uuid: long[1]['Node UUID'],
    });
    expect(JSON.parse(await out('interface', 'show', '52-54-00-B3-00-02', '-f', 'json'))).toEqual(shown);
    expect(parseYaml(await out('interface', 'show', id, '-f', 'yaml'))).toEqual(shown);
    expect((await out('interface', 'show', id, '-f', 'value', '-c', 'node_id', '-c', 'address')).trim()).toBe(
      '2\n52:54:00:b3:00:02',
    );
    const none = await cli('interface', 'show', '52:54:00:ff:ff:ff');
    expect([none.code, none.err.trim()]).toEqual([1, 'bmctl: no interface 52:54:00:ff:ff:ff on any node']);
  });

  it('hypervisor stats sums the nodes; a node with an instance is wholly used', async () => {
    const stats = async () => JSON.parse(await out('hypervisor', 'stats', '-f', 'json')) as Record<string, number>;
    expect(await stats()).toEqual({
      count: 3,
      vcpus: 5,
      vcpus_used: 0,
      memory_mb: 7168,
      memory_mb_used: 0,
      local_gb: 70,
      local_gb_used: 0,
      free_ram_mb: 7168,
      free_disk_gb: 70,
      disk_available_least: 70,
      running_vms: 0,
      current_workload: 0,
    });
    await db.ds.query(
      `UPDATE bm_nodes SET instance_uuid = gen_random_uuid()::text, task_state = CASE id WHEN 2 THEN 'active' ELSE 'building' END
        WHERE id IN (2, 3)`,
    );
    expect(await stats()).toMatchObject({
      count: 3,
      vcpus_used: 4,
      memory_mb_used: 6144,
      local_gb_used: 60,
      free_ram_mb: 1024,
      free_disk_gb: 10,
      running_vms: 2,
      current_workload: 1,
    });
    expect((await out('hypervisor', 'stats', '-f', 'value', '-c', 'running_vms')).trim()).toBe('2');
    await db.ds.query(`UPDATE bm_nodes SET instance_uuid = NULL, task_state = NULL`);
  });

  describe('dead-lettered jobs', () => {
    let conn: AmqpConnection;
    let jobs: JobQueue<{ n: number }>;
    let healthy = false;
    const ran: number[] = [];

    beforeAll(async () => {
      conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
      // The site's deploy job queue ([deploy_helper] job_queue, BM_JOB_QUEUE): bmctl's default.
      jobs = new JobQueue(conn, { queue: siteJobQueue(site), exchange: DEPLOY_JOBS.exchange, maxAttempts: 1 });
      await jobs.consume(async (p) => {
        if (!healthy) throw new Error(`boom ${p.n}`);
        ran.push(p.n);
      });
      for (const n of [1, 2, 3]) await jobs.publish({ n }, { messageId: `job-${n}` });
      const dead = new DeadLetters(conn, { queue: siteJobQueue(site) });
      await eventually(async () => expect(await dead.count()).toBe(3), 10_000);
    });
    afterAll(async () => {
      await jobs?.stop();
      const ch = await conn.channel();
      await ch.deleteQueue(siteJobQueue(site));
      await ch.deleteQueue(`${siteJobQueue(site)}.dead`);
      await ch.close();
      await conn?.close();
    });

    it('list shows each with its reason, attempts and payload, and leaves them there', async () => {
      const list = JSON.parse(await out('queues', 'dead-letters', 'list', '-f', 'json')) as Record<string, unknown>[];
      expect(list.map((l) => [l['#'], l['Message ID'], l.Attempts, l.Payload])).toEqual([
        [1, 'job-1', 1, { n: 1 }],
        [2, 'job-2', 1, { n: 2 }],
        [3, 'job-3', 1, { n: 3 }],
      ]);
      expect(list.map((l) => l.Reason)).toEqual(['Error: boom 1', 'Error: boom 2', 'Error: boom 3']);
      expect(JSON.parse(await out('queues', 'dead-letters', 'list', '--json'))).toEqual(list);
      const table = await out('queues', 'dead-letters', 'list', '--long');
      expect(table).toMatch(/│ 2 +│ job-2 +│ 1 +│ Error: boom 2 │ n=2 +│ req-[0-9a-f-]+ │ 7 +│ x-attempt=1/);
      const one = await cli('queues', 'dead-letters', 'list', '--limit', '1', '-f', 'value', '-c', 'Message ID');
      expect([one.out.trim(), one.err.trim()]).toEqual(['job-1', `(the oldest 1 of 3 in ${siteJobQueue(site)}.dead)`]);
    });

    it('replay moves the chosen ones back to the job queue; purge deletes the oldest n, or all', async () => {
      healthy = true;
      const r = await cli('queues', 'dead-letters', 'replay', '--id', 'job-2', '-f', 'value', '-c', 'Message ID');
      expect([r.code, r.out.trim(), r.err.trim()]).toEqual([
        0,
        'job-2',
        `replayed 1 dead letter(s) from ${siteJobQueue(site)}.dead to ${siteJobQueue(site)}`,
      ]);
      await eventually(() => expect(ran).toEqual([2]));
      const left = () => out('queues', 'dead-letters', 'list', '-f', 'value', '-c', 'Message ID');
      expect((await left()).trim().split('\n')).toEqual(['job-1', 'job-3']);
      const unknown = await cli('queues', 'dead-letters', 'replay', '--id', 'job-9');
      expect([unknown.code, unknown.err.trim().split('\n').pop()]).toEqual([
        1,
        `bmctl: no dead letter job-9 in ${siteJobQueue(site)}.dead`,
      ]);

      expect((await out('queues', 'dead-letters', 'purge', '--count', '1')).trim()).toBe(
        `purged 1 dead letter(s) from ${siteJobQueue(site)}.dead`,
      );
      expect((await left()).trim()).toBe('job-3');
      expect(JSON.parse(await out('queues', 'dead-letters', 'purge', '--json'))).toEqual({
        queue: `${siteJobQueue(site)}.dead`,
        purged: 1,
      });
      expect(JSON.parse(await out('queues', 'dead-letters', 'list', '--json'))).toEqual([]);
      expect(ran).toEqual([2]);
      const nowhere = await cli('queues', 'dead-letters', 'list', '--queue', 'no.such.queue');
      expect([nowhere.code, nowhere.err.trim()]).toEqual([
        1,
        'bmctl: QueueNotFound: no queue no.such.queue.dead on the broker: is no.such.queue the job queue?',
      ]);
    });
  });

  describe('image upload', () => {
    let images: ImagesService;
    beforeAll(async () => {
      images = await startImages(site, join(work, 'images'));
    });
    afterAll(async () => {
      await images?.stop();
    });

    it('shows its progress as plain lines with the elapsed seconds when stderr is not a terminal', async () => {
      const file = join(work, 'disk.img');
      await writeFile(file, Buffer.alloc(3 * 1048576 + 5, 7));
      const r = await bmctl(
        ['image', 'create', 'disk', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '-f', 'json'],
        { ...env, ...images.env },
      );
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ name: 'disk', status: 'active', size: 3 * 1048576 + 5 });
      const lines = r.err.trim().split('\n');
      // No terminal escapes; a line at each tenth, then the end; the time goes forward.
      expect(r.err).not.toContain('\x1b');
      for (const l of lines.slice(0, -1))
        expect(l).toMatch(/^\[ +\d+\.\d s\] uploading .*disk\.img: \d+0?% \(\d+\.\d of 3\.0 MiB\)$/);
      expect(lines.at(-1)).toMatch(/^\[ +\d+\.\d s\] uploaded .*disk\.img: 100% \(3\.0 MiB in \d+\.\d s\)$/);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const times = lines.map((l) => Number(/^\[ *([\d.]+) s\]/.exec(l)![1]));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    });
  });
});
