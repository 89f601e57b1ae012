import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { BmNode, openDataSource, syncSchema } from '@bm/db';
import {
  DuplicateBmc,
  DuplicateMac,
  ImportRejected,
  InterfaceNotFound,
  InvalidParameterValue,
  NodeNotFound,
} from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { testPasswordVault } from '../../../test/support/passwords';
import { EnrollmentService } from './enrollment.service';

const SECRET = 'S3cr3t-BMC-pw';
const SAMPLE = readFileSync(join(__dirname, '../../../deploy/baremetal.csv'), 'utf8');

function csv(...rows: string[]): string {
  return rows.join('\n') + '\n';
}
const row = (n: number, patch: Partial<Record<'mac' | 'addr' | 'cpus' | 'mem' | 'disk', string>> = {}) =>
  [
    patch.mac ?? `52:54:00:10:00:${n.toString(16).padStart(2, '0')}`,
    'admin',
    SECRET,
    patch.addr ?? `10.1.0.${n}`,
    patch.cpus ?? '2',
    patch.mem ?? '2048',
    patch.disk ?? '20',
  ].join(',');

describe('EnrollmentService against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let svc: EnrollmentService;

  const counts = async () => ({
    nodes: Number((await ds.query('SELECT count(*) AS c FROM bm_nodes'))[0].c),
    ifaces: Number((await ds.query('SELECT count(*) AS c FROM bm_interfaces'))[0].c),
  });

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    svc = new EnrollmentService(ds, 'cn1', testPasswordVault());
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE');
  });

  it('imports the sample baremetal.csv and lists it, passwords masked', async () => {
    const r = await svc.importNodes(SAMPLE, { source: 'deploy/baremetal.csv' });
    expect(
      r.nodes.map((n) => [
        n.id,
        n.interfaces[0].address,
        n.pm_address,
        n.cpus,
        n.memory_mb,
        n.local_gb,
        n.cpu_arch,
        n.service_host,
      ]),
    ).toEqual([
      [1, '52:54:00:b3:00:01', '127.0.0.1:6231', 1, 1024, 10, 'x86_64', 'cn1'],
      [2, '52:54:00:b3:00:02', '127.0.0.1:6232', 2, 2048, 20, 'x86_64', 'cn1'],
      [3, '52:54:00:b3:00:03', '127.0.0.1:6233', 2, 4096, 40, 'x86_64', 'cn1'],
    ]);
    const listed = await svc.listNodes();
    expect(listed).toEqual(r.nodes);
    expect(listed.every((n) => n.pm_password === '******' && /^[0-9a-f-]{36}$/.test(n.uuid!))).toBe(true);
    const raw = await ds.getRepository(BmNode).findOneByOrFail({ id: 1 });
    expect(raw).toMatchObject({ deleted: false, task_state: null, instance_uuid: null });
    expect(testPasswordVault().open(raw.pm_password!, raw.id)).toBe('password'); // stored encrypted
    expect(await svc.getNode(listed[1].uuid!)).toEqual(listed[1]);
    expect(await svc.listNodes({ serviceHost: 'other' })).toEqual([]);
  });

  it('rejects a file with bad rows: every row named, nothing written', async () => {
    await svc.importNodes(csv(row(1)), { source: 'first.csv' });
    const before = await counts();
    const file = csv(
      'mac,pm_user,pm_password,pm_address,cpus,memory_mb,local_gb',
      row(2), //                                               line 2: fine
      row(3, { mac: '52:54:00:zz:00:03' }), //                 line 3: bad MAC
      row(4, { mac: '52:54:00:10:00:02' }), //                 line 4: duplicate MAC inside the file
      row(5, { mac: '52:54:00:10:00:01' }), //                 line 5: MAC enrolled by first.csv
      row(6, { cpus: '0', mem: '-1', disk: 'ten' }), //        line 6: non-positive / non-numeric sizes
      row(7, { addr: '10.1.0.999' }), //                       line 7: bad address
      row(8, { addr: '10.1.0.2' }), //                         line 8: BMC already used on line 2
      row(9), //                                               line 9: fine
    );
    const err = await svc.importNodes(file, { source: 'second.csv' }).catch((e) => e);
    expect(err).toBeInstanceOf(ImportRejected);
    expect((err as ImportRejected).problems.map((p) => [p.line, p.field])).toEqual([
      [3, 'macs'],
      [4, 'mac'],
      [5, 'mac'],
      [6, 'cpus'],
      [6, 'memory_mb'],
      [6, 'local_gb'],
      [7, 'pm_address'],
      [8, 'pm_address'],
    ]);
    expect(err.message).toMatch(/^second\.csv: rejected, nothing was enrolled \(6 bad rows\)/);
    expect(err.message).toContain('line 5: mac: 52:54:00:10:00:01 is already enrolled on node 1');
    expect(err.message).toContain('line 4: mac: 52:54:00:10:00:02 is also on line 2');
    expect(err.message).not.toContain(SECRET);
    expect(await counts()).toEqual(before);
  });

  it('a dry run checks against the database and writes nothing', async () => {
    const ok = await svc.importNodes(SAMPLE, { source: 'x.csv', dryRun: true });
    expect(ok.dryRun).toBe(true);
    expect(ok.nodes).toHaveLength(3);
    expect(await counts()).toEqual({ nodes: 0, ifaces: 0 });
    await svc.importNodes(SAMPLE, { source: 'x.csv' });
    await expect(svc.importNodes(SAMPLE, { source: 'x.csv', dryRun: true })).rejects.toThrow(
      /line 4: mac: 52:54:00:b3:00:01 is already enrolled on node 1/,
    );
  });

  it('re-importing with skipEnrolled skips enrolled nodes and adds the new ones', async () => {
    await svc.importNodes(SAMPLE, { source: 'x.csv' });
    const more = SAMPLE + '52:54:00:b3:00:04,admin,password,127.0.0.1:6234,4,8192,80,x86_64,,\n';
    const r = await svc.importNodes(more, { source: 'x.csv', skipEnrolled: true });
    expect(r.skipped.map((s) => s.node)).toEqual([1, 2, 3]);
    expect(r.nodes.map((n) => n.interfaces[0].address)).toEqual(['52:54:00:b3:00:04']);
    expect(await counts()).toEqual({ nodes: 4, ifaces: 4 });
  });

  it('imports JSON with several MACs per node', async () => {
    const json = JSON.stringify({
      nodes: [
        {
          macs: ['52:54:00:20:00:01', '52:54:00:20:00:02'],
          pm_address: 'bmc1.lab',
          pm_user: 'root',
          pm_password: SECRET,
          cpus: 8,
          memory_mb: 32768,
          local_gb: 500,
        },
      ],
    });
    const r = await svc.importNodes(json, { source: 'nodes.json' });
    expect(r.nodes[0].interfaces.map((i) => i.address)).toEqual(['52:54:00:20:00:01', '52:54:00:20:00:02']);
    expect(JSON.stringify(r)).not.toContain(SECRET);
    await expect(
      svc.importNodes('[{"macs": ["52:54:00:20:00:09"], "cpus": 0}]', { source: 'bad.json' }),
    ).rejects.toThrow(/entry 1: cpus: must be a positive integer/);
  });

  it('two concurrent imports of the same MAC: one wins, the other writes nothing', async () => {
    const a = csv(row(1), row(2));
    const b = csv(row(3), row(1, { addr: '10.9.9.9' }));
    const results = await Promise.allSettled([
      svc.importNodes(a, { source: 'a' }),
      svc.importNodes(b, { source: 'b' }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(lost.reason instanceof DuplicateMac ? DuplicateMac : ImportRejected);
    expect((await counts()).ifaces).toBe(2);
  });

  it('concurrent enrollments of one BMC address on different MACs: one node, the other gets DuplicateBmc', async () => {
    for (let round = 0; round < 5; round++) {
      const bmc = `vbmc-${round}.lab:6230`; // a host name: the second spelling differs in case only
      const create = (mac: string, addr: string) =>
        svc.createNode({ macs: [mac], cpus: 1, memory_mb: 512, local_gb: 5, pm_address: addr });
      const results = await Promise.allSettled([
        create(`52:54:00:70:0${round}:01`, bmc),
        create(`52:54:00:70:0${round}:02`, bmc.toUpperCase()),
      ]);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(lost).toHaveLength(1);
      expect(lost[0].reason).toBeInstanceOf(DuplicateBmc);
      const live = await ds.query('SELECT id FROM bm_nodes WHERE deleted = false AND lower(pm_address) = $1', [bmc]);
      expect(live).toHaveLength(1);
    }
  });

  it('creates, shows and deletes a node; deleted nodes free their MACs', async () => {
    const n = await svc.createNode({
      macs: ['52:54:00:30:00:01'],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.3.0.1',
      pm_user: 'u',
      pm_password: SECRET,
    });
    expect(n).toMatchObject({ id: 1, pm_password: '******', service_host: 'cn1' });
    await expect(
      svc.createNode({ macs: ['52:54:00:30:00:01'], cpus: 1, memory_mb: 512, local_gb: 5, pm_address: '10.3.0.2' }),
    ).rejects.toThrow(new DuplicateMac('MAC 52:54:00:30:00:01 is already enrolled on node 1'));
    await expect(svc.createNode({ macs: ['52:54:00:30:00:02'], cpus: 'x' })).rejects.toBeInstanceOf(
      InvalidParameterValue,
    );

    const deleted = await svc.deleteNode(n.uuid!);
    expect(deleted.id).toBe(1);
    await expect(svc.getNode(1)).rejects.toBeInstanceOf(NodeNotFound);
    const row1 = await ds.getRepository(BmNode).findOneByOrFail({ id: 1 });
    expect(row1.deleted).toBe(true);
    expect(row1.deleted_at).toBeInstanceOf(Date);
    expect(await counts()).toEqual({ nodes: 1, ifaces: 0 });
    const again = await svc.createNode({
      macs: ['52:54:00:30:00:01'],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.3.0.1',
    });
    expect(again.id).toBe(2);
  });

  it('refuses to delete a node that carries an instance', async () => {
    const n = await svc.createNode({
      macs: ['52:54:00:40:00:01'],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.4.0.1',
    });
    await ds.query(`UPDATE bm_nodes SET instance_uuid = 'b1f3f9a2-0000-4000-8000-000000000001' WHERE id = $1`, [n.id]);
    await expect(svc.deleteNode(n.id)).rejects.toThrow(/carries instance b1f3f9a2/);
    expect((await counts()).ifaces).toBe(1);
  });

  it('adds, lists and removes interfaces by MAC or id', async () => {
    const n = await svc.createNode({
      macs: ['52:54:00:50:00:01'],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.5.0.1',
    });
    const i = await svc.addInterface(n.id, { address: '52-54-00-50-00-02', datapath_id: '0x1', port_no: 3 });
    expect(i).toMatchObject({ address: '52:54:00:50:00:02', datapath_id: '0x1', port_no: 3 });
    expect((await svc.listInterfaces(n.id)).map((x) => x.address)).toEqual(['52:54:00:50:00:01', '52:54:00:50:00:02']);
    await expect(svc.addInterface(n.id, { address: '52:54:00:50:00:01' })).rejects.toThrow(
      /already enrolled on node 1/,
    );
    await expect(svc.addInterface(n.id, { address: 'nope' })).rejects.toThrow(/'nope' is not a MAC address/);
    await expect(svc.addInterface(99, { address: '52:54:00:50:00:09' })).rejects.toBeInstanceOf(NodeNotFound);
    await svc.removeInterface(n.id, '52:54:00:50:00:02');
    await svc.removeInterface(n.id, String((await svc.listInterfaces(n.id))[0].id));
    expect(await svc.listInterfaces(n.id)).toEqual([]);
    await expect(svc.removeInterface(n.id, '52:54:00:50:00:02')).rejects.toBeInstanceOf(InterfaceNotFound);
  });

  it('stores timestamps in UTC whatever the local time zone', async () => {
    expect(new Date().getTimezoneOffset()).toBe(-540); // test/support/global-setup.js: Asia/Tokyo
    const before = Date.now();
    const n = await svc.createNode({
      macs: ['52:54:00:60:00:01'],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.6.0.1',
    });
    const [{ t }] = await ds.query(`SELECT created_at::text AS t FROM bm_nodes WHERE id = $1`, [n.id]);
    expect(Math.abs(Date.parse(t.replace(' ', 'T') + 'Z') - before)).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(n.created_at!) - before)).toBeLessThan(60_000);
    expect(Math.abs(Date.parse((await svc.getNode(n.id)).created_at!) - before)).toBeLessThan(60_000);
  });

  it('unknown node references are NodeNotFound, not database errors', async () => {
    await expect(svc.getNode('not-a-node')).rejects.toBeInstanceOf(NodeNotFound);
    await expect(svc.getNode('99999999999')).rejects.toBeInstanceOf(NodeNotFound);
    await expect(svc.getNode('0b7c4bb4-1e2f-4d4a-9d0b-58f1b7e6a111')).rejects.toBeInstanceOf(NodeNotFound);
  });
});
