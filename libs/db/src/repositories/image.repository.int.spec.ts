import type { DataSource } from 'typeorm';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/database';
import { openDataSource, syncSchema } from '..';
import {
  ImageExists,
  ImageMarkerNotFound,
  ImageNotFound,
  ImageProtected,
  ImageRepository,
  ImageStatusConflict,
} from './image.repository';

const DATA = { size: 5, checksum: 'c'.repeat(32), os_hash_algo: 'sha512', os_hash_value: 'f'.repeat(128) };

describe('ImageRepository against PostgreSQL', () => {
  let db: ScratchDatabase;
  let ds: DataSource;
  let repo: ImageRepository;

  beforeAll(async () => {
    db = await createScratchDatabase();
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    repo = new ImageRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('TRUNCATE images');
  });

  it("creates a queued image with Glance's defaults, properties and tags as jsonb", async () => {
    const before = Date.now();
    const image = await repo.create({
      name: 'deploy-kernel',
      disk_format: 'aki',
      container_format: 'aki',
      properties: { kernel_id: 'k', hypervisor_type: 'baremetal' },
      tags: ['deploy'],
    });
    expect(image).toMatchObject({
      name: 'deploy-kernel',
      status: 'queued',
      visibility: 'shared',
      protected: false,
      os_hidden: false,
      size: null,
      checksum: null,
      min_disk: 0,
      min_ram: 0,
      tags: ['deploy'],
      properties: { kernel_id: 'k', hypervisor_type: 'baremetal' },
    });
    expect(image.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(image.created_at.getTime() - before)).toBeLessThan(60_000); // naive UTC
    expect(image.created_at.getMilliseconds()).toBe(0);
    const [raw]: { t: string }[] = await ds.query(`SELECT jsonb_typeof(properties) AS t FROM images`);
    expect(raw.t).toBe('object');
    expect(await repo.get(image.id)).toEqual(image);
  });

  it('refuses a taken id and names a missing image', async () => {
    const id = '3f1c2a50-4c8e-4f5e-9b7a-0d1e2f3a4b5c';
    await repo.create({ id });
    await expect(repo.create({ id })).rejects.toThrow(ImageExists);
    expect(await repo.find('0bd1b3a4-0000-4000-8000-000000000000')).toBeNull();
    expect(await repo.find('x'.repeat(80))).toBeNull();
    await expect(repo.get('nope')).rejects.toThrow(ImageNotFound);
  });

  it('moves queued → saving → active once; a second upload is a conflict', async () => {
    const { id } = await repo.create({ name: 'a' });
    expect((await repo.startUpload(id)).status).toBe('saving');
    await expect(repo.startUpload(id)).rejects.toThrow(new ImageStatusConflict(id, 'saving', 'saving').message);
    const done = await repo.finishUpload(id, DATA);
    expect(done).toMatchObject({ status: 'active', size: 5, checksum: DATA.checksum, os_hash_algo: 'sha512' });
    await expect(repo.startUpload(id)).rejects.toThrow('Image status transition from active to saving is not allowed');
    await expect(repo.startUpload('0bd1b3a4-0000-4000-8000-000000000000')).rejects.toThrow(ImageNotFound);
  });

  it('puts a failed or interrupted upload back to queued', async () => {
    const a = await repo.create({ name: 'a' });
    const b = await repo.create({ name: 'b' });
    await repo.startUpload(a.id);
    expect((await repo.abortUpload(a.id)).status).toBe('queued');
    await repo.startUpload(a.id);
    await repo.startUpload(b.id);
    expect((await repo.resetInterruptedUploads()).sort()).toEqual([a.id, b.id].sort());
    expect((await repo.get(b.id)).status).toBe('queued');
  });

  it('updates what a PATCH changed and nothing else', async () => {
    const image = await repo.create({ name: 'a', properties: { x: '1' } });
    const after = await repo.update(image.id, { name: 'b', properties: { y: '2' }, min_ram: 512 });
    expect(after).toMatchObject({ name: 'b', properties: { y: '2' }, min_ram: 512, visibility: 'shared' });
    await expect(repo.update('0bd1b3a4-0000-4000-8000-000000000000', { name: 'c' })).rejects.toThrow(ImageNotFound);
  });

  it('lists with filters, sorting and marker paging', async () => {
    const ids: string[] = [];
    for (const name of ['e', 'a', 'd', 'b', 'c']) {
      const format = name < 'c' ? 'raw' : 'qcow2';
      ids.push((await repo.create({ name, disk_format: format, properties: { group: name < 'd' ? 'x' : 'y' } })).id);
    }
    const names = (rows: { name: string | null }[]) => rows.map((r) => r.name);
    const page1 = await repo.list({ limit: 2, sortKey: 'name', sortDir: 'asc' });
    expect(names(page1)).toEqual(['a', 'b']);
    const page2 = await repo.list({ limit: 2, sortKey: 'name', sortDir: 'asc', marker: page1[1].id });
    expect(names(page2)).toEqual(['c', 'd']);
    const page3 = await repo.list({ limit: 2, sortKey: 'name', sortDir: 'asc', marker: page2[1].id });
    expect(names(page3)).toEqual(['e']);
    expect(names(await repo.list({ limit: 10, sortKey: 'name', sortDir: 'desc' }))).toEqual(['e', 'd', 'c', 'b', 'a']);
    // Default: newest first (created_at desc, then id desc): all five, each once, over pages.
    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await repo.list({ limit: 2, marker });
      seen.push(...page.map((r) => r.id));
      if (page.length < 2) break;
      marker = page[page.length - 1].id;
    }
    expect(seen.sort()).toEqual([...ids].sort());
    expect(names(await repo.list({ limit: 10, disk_format: 'raw', sortKey: 'name', sortDir: 'asc' }))).toEqual([
      'a',
      'b',
    ]);
    expect(names(await repo.list({ limit: 10, name: 'd' }))).toEqual(['d']);
    expect(names(await repo.list({ limit: 10, status: 'active' }))).toEqual([]);
    const grouped = await repo.list({ limit: 10, properties: { group: 'y' }, sortKey: 'name', sortDir: 'asc' });
    expect(names(grouped)).toEqual(['d', 'e']);
    await expect(repo.list({ limit: 10, marker: '0bd1b3a4-0000-4000-8000-000000000000' })).rejects.toThrow(
      ImageMarkerNotFound,
    );
    await expect(repo.list({ limit: 0 })).rejects.toThrow(RangeError);
  });

  it('hides os_hidden images unless asked', async () => {
    await repo.create({ name: 'shown' });
    await repo.create({ name: 'hidden', os_hidden: true });
    expect((await repo.list({ limit: 10 })).map((r) => r.name)).toEqual(['shown']);
    expect((await repo.list({ limit: 10, os_hidden: true })).length).toBe(2);
  });

  it('deletes an image, refusing a protected one', async () => {
    const a = await repo.create({ name: 'a' });
    const p = await repo.create({ name: 'p', protected: true });
    expect((await repo.delete(a.id)).id).toBe(a.id);
    expect(await repo.find(a.id)).toBeNull();
    await expect(repo.delete(a.id)).rejects.toThrow(ImageNotFound);
    await expect(repo.delete(p.id)).rejects.toThrow(ImageProtected);
  });
});
