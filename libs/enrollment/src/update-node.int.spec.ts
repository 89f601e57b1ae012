import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { NodeRepository, PasswordKeyError, PasswordVault, openDataSource, syncSchema } from '@bm/db';
import { DuplicateBmc, InvalidParameterValue, NodeAssociated, NodeNotFound } from '@bm/domain';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { EnrollmentService } from './enrollment.service';

// `bmctl node set` / `unset` (EnrollmentService.updateNode) against PostgreSQL: the checks of
// enrollment on each field, the password sealed as at enrollment, the invariants a node with an
// instance keeps, and the timeline entry of each change.
const OLD = 'Old-BMC-pw-1';
const NEW = 'New-BMC-pw-2';
const KEY = PasswordVault.ofKey(Buffer.alloc(32, 0x33));

describe('EnrollmentService.updateNode', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let enroll: EnrollmentService;
  let seq = 0;
  const create = (fields: Record<string, unknown> = {}) => {
    seq += 1;
    return enroll.createNode({
      macs: [`52:54:00:66:00:${seq.toString(16).padStart(2, '0')}`],
      cpus: 2,
      memory_mb: 1024,
      local_gb: 10,
      cpu_arch: 'x86_64',
      pm_address: `10.0.66.${seq}`,
      pm_user: 'admin',
      pm_password: OLD,
      ...fields,
    });
  };
  const stored = async (id: number): Promise<string> =>
    (await ds.query('SELECT pm_password FROM bm_nodes WHERE id = $1', [id]))[0].pm_password;
  const events = async (id: number): Promise<string[]> =>
    (
      (await ds.query(`SELECT source, kind, detail FROM bm_node_events WHERE node_id = $1 ORDER BY id`, [id])) as {
        source: string;
        kind: string;
        detail: string;
      }[]
    ).map((e) => `${e.source} ${e.kind}: ${e.detail}`);
  const error = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as Error,
    );

  beforeAll(async () => {
    db = await createScratchDatabase('bm_upd');
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    enroll = new EnrollmentService(ds, 'cn1', KEY);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('rotates the BMC password: sealed with the key, the old one gone, the power target opens the new one', async () => {
    const n = await create();
    const before = await stored(n.id);
    const r = await enroll.updateNode(n.id, { pm_password: NEW });
    expect(r.changed).toEqual(['pm_password rotated']);
    expect(r.node.pm_password).toBe('******');
    const after = await stored(n.id);
    expect(after).toMatch(/^bmpw1:/);
    expect(after).not.toBe(before);
    expect(after).not.toContain(NEW);
    expect(KEY.open(after, n.id)).toBe(NEW);
    expect((await new NodeRepository(ds, KEY).powerTarget(n.id)).pm_password).toBe(NEW);
    expect(await events(n.id)).toEqual(['bmctl node.updated: pm_password rotated']);
    expect(JSON.stringify(r)).not.toContain(NEW);
  });

  it('without a key a password is refused, and nothing is changed', async () => {
    const n = await create();
    const noKey = new EnrollmentService(ds, 'cn1', PasswordVault.none());
    await expect(noKey.updateNode(n.id, { pm_password: NEW, cpus: 4 })).rejects.toBeInstanceOf(PasswordKeyError);
    expect(KEY.open(await stored(n.id), n.id)).toBe(OLD);
    expect((await enroll.getNode(n.id)).cpus).toBe(2);
  });

  it('sets resources, arch, host, BMC and console port, saying what each was', async () => {
    const n = await create();
    const r = await enroll.updateNode(n.uuid!, {
      cpus: 4,
      memory_mb: 2048,
      local_gb: 10, // unchanged: not listed
      cpu_arch: 'aarch64',
      service_host: 'cn2',
      pm_address: '10.0.66.200:6230',
      pm_user: 'root',
      terminal_port: 7001,
    });
    // In the DTO's order; the address in enrollment's canonical form (no :623).
    expect(r.changed).toEqual([
      'cpus 4 (was 2)',
      'memory_mb 2048 (was 1024)',
      `pm_address 10.0.66.200:6230 (was ${n.pm_address})`,
      'pm_user root (was admin)',
      'cpu_arch aarch64 (was x86_64)',
      'service_host cn2 (was cn1)',
      'terminal_port 7001',
    ]);
    expect(r.node).toMatchObject({
      cpus: 4,
      memory_mb: 2048,
      local_gb: 10,
      cpu_arch: 'aarch64',
      service_host: 'cn2',
      pm_address: '10.0.66.200:6230',
      pm_user: 'root',
      terminal_port: 7001,
    });
    expect(r.node.updated_at).not.toBeNull();
    expect(await enroll.getNode(n.id)).toMatchObject({ cpus: 4, service_host: 'cn2' });
  });

  it('unsets the optional fields; a field already unset is no change', async () => {
    const n = await create({ terminal_port: 7002 });
    const r = await enroll.updateNode(n.id, {}, ['cpu_arch', 'pm_user', 'pm_password', 'terminal_port']);
    expect(r.changed).toEqual(['cpu_arch unset', 'pm_user unset', 'pm_password unset', 'terminal_port unset']);
    expect(r.node).toMatchObject({ cpu_arch: null, pm_user: null, pm_password: null, terminal_port: null });
    expect(await stored(n.id)).toBeNull();
    expect((await enroll.updateNode(n.id, {}, ['cpu_arch'])).changed).toEqual([]);
    expect(await events(n.id)).toEqual([
      'bmctl node.updated: cpu_arch unset, pm_user unset, pm_password unset, terminal_port unset',
    ]);
  });

  it('checks every field as enrollment does; unknown, required or doubly named fields are refused', async () => {
    const n = await create();
    const e = await error(enroll.updateNode(n.id, { cpus: 0, pm_address: 'not a host!', pm_user: 'x'.repeat(17) }));
    expect(e).toBeInstanceOf(InvalidParameterValue);
    expect(e!.message).toMatch(/cpus: must be a positive integer/);
    expect(e!.message).toMatch(/pm_address/);
    expect(e!.message).toMatch(/pm_user: is 17 bytes: IPMI 2.0 takes at most 16/);
    expect((await error(enroll.updateNode(n.id, { macs: ['52:54:00:00:00:01'] })))!.message).toMatch(
      /macs: .*not a known field|macs.*should not exist/,
    );
    const un = await error(enroll.updateNode(n.id, { cpu_arch: 'x86_64' }, ['cpus', 'cpu_arch']));
    expect(un!.message).toContain('cpus: cannot be unset (only cpu_arch, pm_user, pm_password, terminal_port)');
    expect(un!.message).toContain('cpu_arch: is both set and unset');
    expect((await error(enroll.updateNode(n.id, {})))!.message).toContain('nothing to change');
    expect(await error(enroll.updateNode(randomUUID(), { cpus: 1 }))).toBeInstanceOf(NodeNotFound);
    expect(await events(n.id)).toEqual([]);
  });

  it("refuses another live node's BMC address, compared as enrollment compares it", async () => {
    const a = await create();
    const b = await create();
    const e = await error(enroll.updateNode(b.id, { pm_address: a.pm_address!.toUpperCase().replace(':623', '') }));
    expect(e).toBeInstanceOf(DuplicateBmc);
    expect(e!.message).toBe(`BMC ${a.pm_address} already manages node ${a.id}`);
    // Its own address again is no change at all.
    expect((await enroll.updateNode(a.id, { pm_address: a.pm_address! })).changed).toEqual([]);
  });

  it('a node carrying an instance keeps what it was scheduled on; its BMC may still change', async () => {
    const n = await create();
    const instance = randomUUID();
    await ds.query(`UPDATE bm_nodes SET instance_uuid = $2, task_state = 'active' WHERE id = $1`, [n.id, instance]);
    for (const change of [
      { cpus: 8 },
      { memory_mb: 1 },
      { local_gb: 99 },
      { cpu_arch: 'ppc64' },
      { service_host: 'x' },
    ]) {
      const e = await error(enroll.updateNode(n.id, change));
      expect(e).toBeInstanceOf(NodeAssociated);
      expect(e!.message).toBe(
        `node ${n.id} carries instance ${instance}, scheduled on its ${Object.keys(change)[0]}: change them once the instance is deleted`,
      );
    }
    expect(await error(enroll.updateNode(n.id, {}, ['cpu_arch']))).toBeInstanceOf(NodeAssociated);
    // The same values are no change, so not refused; BMC credentials and the console port may change.
    expect((await enroll.updateNode(n.id, { cpus: 2, memory_mb: 1024 })).changed).toEqual([]);
    const r = await enroll.updateNode(n.id, { pm_password: NEW, pm_user: 'ops', terminal_port: 7003 });
    expect(r.changed).toEqual(['pm_user ops (was admin)', 'terminal_port 7003', 'pm_password rotated']);
    expect(
      (await ds.query(`SELECT instance_uuid FROM bm_node_events WHERE node_id = $1`, [n.id])) as unknown[],
    ).toEqual([{ instance_uuid: instance }]);
  });
});
