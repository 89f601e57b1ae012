import type { DataSource } from 'typeorm';
import { NodeRepository, PasswordKeyError, PasswordVault, openDataSource, syncSchema } from '@bm/db';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { EnrollmentService } from './enrollment.service';

// BMC passwords at rest, against PostgreSQL: what the column holds, what a delete leaves, what a
// wrong or missing key says, and `bmctl db re-encrypt`'s repository call.
const SECRET = 'S3cr3t-BMC-pw';
const KEY = PasswordVault.ofKey(Buffer.alloc(32, 0x11));
const OTHER_KEY = PasswordVault.ofKey(Buffer.alloc(32, 0x22));

describe('BMC passwords at rest', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let enroll: EnrollmentService;
  let mac = 0;
  const create = (fields: Record<string, unknown> = {}, svc = enroll) =>
    svc.createNode({
      macs: [`52:54:00:77:00:${(++mac).toString(16).padStart(2, '0')}`],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: `10.0.77.${mac}`,
      pm_user: 'admin',
      pm_password: SECRET,
      ...fields,
    });
  const column = async (id: number): Promise<string | null> =>
    (await ds.query('SELECT pm_password FROM bm_nodes WHERE id = $1', [id]))[0].pm_password;

  beforeAll(async () => {
    db = await createScratchDatabase('bm_pw');
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    enroll = new EnrollmentService(ds, 'cn1', KEY);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('the stored column is not the password; the power target gets it back', async () => {
    const n = await create();
    const stored = (await column(n.id))!;
    expect(stored).not.toContain(SECRET);
    expect(stored).toMatch(/^bmpw1:/);
    const rows: { n: string }[] = await ds.query(
      `SELECT count(*) AS n FROM bm_nodes WHERE position($1 in coalesce(pm_password, '')) > 0`,
      [SECRET],
    );
    expect(Number(rows[0].n)).toBe(0);
    expect((await new NodeRepository(ds, KEY).powerTarget(n.id)).pm_password).toBe(SECRET);
    const empty = await create({ pm_password: '' });
    expect(await column(empty.id)).toMatch(/^bmpw1:/);
    expect((await new NodeRepository(ds, KEY).powerTarget(empty.id)).pm_password).toBe('');
  });

  it('a deleted node keeps no password', async () => {
    const n = await create();
    await enroll.deleteNode(n.id);
    const [row] = await ds.query('SELECT deleted, pm_password FROM bm_nodes WHERE id = $1', [n.id]);
    expect(row).toEqual({ deleted: true, pm_password: null });
  });

  it('a wrong or missing key is an error naming the node and the option', async () => {
    const n = await create();
    await expect(new NodeRepository(ds, OTHER_KEY).powerTarget(n.id)).rejects.toThrow(
      new RegExp(
        `^node ${n.id}'s BMC password was encrypted with key ${KEY.keyId}, not with the key of \\[baremetal\\] pm_password_key_file`,
      ),
    );
    await expect(new NodeRepository(ds).powerTarget(n.id)).rejects.toThrow(
      `node ${n.id}'s BMC password is encrypted and no key is configured: set [baremetal] pm_password_key_file`,
    );
    await expect(create({}, new EnrollmentService(ds, 'cn1'))).rejects.toBeInstanceOf(PasswordKeyError);
  });

  it('re-encrypt seals clear legacy values, rotates keys and scrubs deleted nodes', async () => {
    await ds.query('TRUNCATE bm_nodes RESTART IDENTITY CASCADE');
    const legacy = await create({ pm_password: undefined });
    await ds.query(`UPDATE bm_nodes SET pm_password = 'legacy-pw' WHERE id = $1`, [legacy.id]); // as before sealing
    const gone = await create({ pm_password: undefined });
    await ds.query(`UPDATE bm_nodes SET pm_password = 'old-pw', deleted = true WHERE id = $1`, [gone.id]);
    const sealed = await create();

    expect(await new NodeRepository(ds, KEY).reencryptPasswords()).toEqual({
      sealed: 1,
      rekeyed: 0,
      unchanged: 1,
      scrubbed: 1,
    });
    expect(await column(legacy.id)).toMatch(/^bmpw1:/);
    expect(await column(gone.id)).toBeNull();
    expect((await new NodeRepository(ds, KEY).powerTarget(legacy.id)).pm_password).toBe('legacy-pw');

    // Rotation: without the old key nothing changes and the node is named; with it, all move.
    await expect(new NodeRepository(ds, OTHER_KEY).reencryptPasswords()).rejects.toThrow(
      new RegExp(`node ${legacy.id}'s BMC password was encrypted with key`),
    );
    expect((await new NodeRepository(ds, KEY).powerTarget(legacy.id)).pm_password).toBe('legacy-pw');
    expect(await new NodeRepository(ds, OTHER_KEY).reencryptPasswords(KEY)).toEqual({
      sealed: 0,
      rekeyed: 2,
      unchanged: 0,
      scrubbed: 0,
    });
    const rotated = new NodeRepository(ds, OTHER_KEY);
    expect((await rotated.powerTarget(legacy.id)).pm_password).toBe('legacy-pw');
    expect((await rotated.powerTarget(sealed.id)).pm_password).toBe(SECRET);
    await expect(new NodeRepository(ds).reencryptPasswords()).rejects.toThrow(/set \[baremetal\] pm_password_key_file/);
  });
});
