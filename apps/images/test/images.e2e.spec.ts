import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GlanceClient, GlanceRequestFailed, type GlanceImage } from '@bm/images';
import { bmctl, requireBuilt } from '../../../test/support/bmctl';
import { freeTcpPort } from '../../../test/support/ports';
import { type ImagesSite, startImagesService } from './images-service';

// End to end: the built images service (dist/apps/images/main.js) on PostgreSQL, its API on a
// free port (BM_API_PORT), its data in a temporary data_dir (BM_DATA_DIR); called through
// GlanceClient, raw HTTP and the built bmctl.
const FIVE_MIB = 5 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A raw request: status, headers, body text. */
function http(
  url: string,
  method: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', fail);
    req.end(body);
  });
}

describe('images service (built) through GlanceClient, HTTP and bmctl', () => {
  let site: ImagesSite;
  let client: GlanceClient;
  const data = randomBytes(FIVE_MIB);
  const md5 = createHash('md5').update(data).digest('hex');
  const sha512 = createHash('sha512').update(data).digest('hex');
  let image: GlanceImage;

  beforeAll(async () => {
    requireBuilt('images');
    site = await startImagesService('bm_images');
    client = new GlanceClient(site.url, 'any-token');
  });
  afterAll(async () => {
    await site?.stop();
  });

  it("serves Glance's version document and image schema", async () => {
    const versions = JSON.parse((await http(`${site.url}/versions`, 'GET')).text);
    expect(versions.versions[0]).toEqual({
      id: 'v2.7',
      status: 'CURRENT',
      links: [{ rel: 'self', href: `${site.url}/v2/` }],
    });
    const root = await http(`${site.url}/`, 'GET');
    expect(root.status).toBe(300);
    const schema = JSON.parse((await http(`${site.url}/v2/schemas/image`, 'GET')).text);
    expect(schema).toMatchObject({ name: 'image', additionalProperties: { type: 'string' } });
    expect(schema.properties.disk_format.enum).toEqual([null, 'raw', 'qcow2', 'aki', 'ari', 'ami']);
  });

  it('creates a queued image with its extra properties as top-level keys', async () => {
    const kernel = await client.create({ name: 'kernel', disk_format: 'aki', container_format: 'aki' });
    image = await client.create({
      name: 'disk',
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
      kernel_id: kernel.id,
      hypervisor_type: 'baremetal',
    });
    expect(image).toMatchObject({
      name: 'disk',
      status: 'queued',
      visibility: 'public',
      size: null,
      checksum: null,
      kernel_id: kernel.id,
      hypervisor_type: 'baremetal',
      self: `/v2/images/${image.id}`,
      file: `/v2/images/${image.id}/file`,
      schema: '/v2/schemas/image',
    });
    expect(image.id).toMatch(UUID);
    expect(image.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('uploads 5 MiB streamed: active, size, md5 and sha512 as node:crypto computes them', async () => {
    let progress = 0;
    await client.upload(image.id, Readable.from([data.subarray(0, 1e6), data.subarray(1e6)]), {
      onProgress: (n) => (progress = n),
    });
    expect(progress).toBe(FIVE_MIB);
    const shown = await client.show(image.id);
    expect(shown).toMatchObject({
      status: 'active',
      size: FIVE_MIB,
      checksum: md5,
      os_hash_algo: 'sha512',
      os_hash_value: sha512,
    });
    expect(readdirSync(site.dataDir)).toEqual([image.id]);
  });

  it('refuses a second upload with 409 and keeps the data', async () => {
    const again = await http(`${site.url}/v2/images/${image.id}/file`, 'PUT', Buffer.from('other'), {
      'Content-Type': 'application/octet-stream',
    });
    expect(again.status).toBe(409);
    expect(again.text).toContain('Image status transition from active to saving is not allowed');
    await expect(client.upload(image.id, Buffer.from('x'))).rejects.toMatchObject({ status: 409, kind: 'conflict' });
    expect((await client.show(image.id)).checksum).toBe(md5);
  });

  it('downloads the same bytes with Content-MD5, verified by the client', async () => {
    const raw = await http(`${site.url}/v2/images/${image.id}/file`, 'GET');
    expect(raw.headers['content-md5']).toBe(md5);
    expect(raw.headers['content-length']).toBe(String(FIVE_MIB));
    const d = await client.download(image.id);
    expect(d).toMatchObject({ size: FIVE_MIB, checksum: md5, os_hash_algo: 'sha512', os_hash_value: sha512 });
    expect((await collect(d.stream)).equals(data)).toBe(true);
  });

  it('answers 204 for the data of a queued image, 404 for an unknown one', async () => {
    const queued = await client.create({ name: 'empty', disk_format: 'raw', container_format: 'bare' });
    expect((await http(`${site.url}/v2/images/${queued.id}/file`, 'GET')).status).toBe(204);
    await expect(client.download(queued.id)).rejects.toThrow(/has no data/);
    const missing = '0bd1b3a4-0000-4000-8000-000000000000';
    const e = (await client.show(missing).catch((x: unknown) => x)) as GlanceRequestFailed;
    expect(e).toBeInstanceOf(GlanceRequestFailed);
    expect(e.message).toBe(`GET /v2/images/${missing}: 404 404 Not Found: No image found with ID ${missing}`);
    await client.delete(queued.id);
  });

  it('leaves nothing that looks complete when an upload is cut off, and the image queued again', async () => {
    const cut = await client.create({ name: 'cut', disk_format: 'raw', container_format: 'bare' });
    await new Promise<void>((done) => {
      const req = request(`${site.url}/v2/images/${cut.id}/file`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(FIVE_MIB) },
      });
      req.on('error', () => done());
      req.write(data.subarray(0, 1024 * 1024), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => done());
    });
    const deadline = Date.now() + 5000;
    while ((await client.show(cut.id)).status !== 'queued' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect((await client.show(cut.id)).status).toBe('queued');
    expect(readdirSync(site.dataDir).sort()).toEqual([image.id]);
    await client.upload(cut.id, Buffer.from('whole'));
    expect((await client.show(cut.id)).size).toBe(5);
    await client.delete(cut.id);
  });

  it('lists with filters and paging (limit + marker, a next link as Glance)', async () => {
    for (const name of ['p-a', 'p-b', 'p-c'])
      await client.create({ name, disk_format: 'qcow2', container_format: 'bare' });
    const first = await client.list({ disk_format: 'qcow2', sort_key: 'name', sort_dir: 'asc', limit: 2 });
    expect(first.images.map((i) => i.name)).toEqual(['p-a', 'p-b']);
    expect(first.next).toBe(
      `/v2/images?disk_format=qcow2&sort_key=name&sort_dir=asc&marker=${first.images[1].id}&limit=2`,
    );
    const raw = JSON.parse((await http(`${site.url}${first.next}`, 'GET')).text);
    expect(raw.images.map((i: GlanceImage) => i.name)).toEqual(['p-c']);
    expect(raw).toMatchObject({ first: '/v2/images', schema: '/v2/schemas/images' });
    expect(raw.next).toBeUndefined();
    const all = await client.listAll({ disk_format: 'qcow2', limit: 1, sort_key: 'name', sort_dir: 'asc' });
    expect(all.map((i) => i.name)).toEqual(['p-a', 'p-b', 'p-c']);
    expect((await client.list({ name: 'disk' })).images.map((i) => i.id)).toEqual([image.id]);
    expect((await client.list({ status: 'active' })).images.map((i) => i.id)).toEqual([image.id]);
    expect((await client.list({ properties: { hypervisor_type: 'baremetal' } })).images.length).toBe(1);
    const bad = await http(`${site.url}/v2/images?marker=0bd1b3a4-0000-4000-8000-000000000000`, 'GET');
    expect([bad.status, bad.text.includes('marker not found')]).toEqual([400, true]);
    expect((await http(`${site.url}/v2/images?limit=x`, 'GET')).status).toBe(400);
  });

  it('patches name and properties (v2.1 JSON patch), refusing as Glance', async () => {
    const patched = await client.update(image.id, [
      { op: 'replace', path: '/name', value: 'disk-renamed' },
      { op: 'add', path: '/os_distro', value: 'debian' },
      { op: 'remove', path: '/hypervisor_type' },
    ]);
    expect(patched).toMatchObject({ name: 'disk-renamed', os_distro: 'debian' });
    expect(patched).not.toHaveProperty('hypervisor_type');
    const readOnly = await http(
      `${site.url}/v2/images/${image.id}`,
      'PATCH',
      JSON.stringify([{ op: 'replace', path: '/size', value: 1 }]),
      { 'Content-Type': 'application/openstack-images-v2.1-json-patch' },
    );
    expect(readOnly.status).toBe(403);
    const wrongType = await http(`${site.url}/v2/images/${image.id}`, 'PATCH', '[]', {
      'Content-Type': 'application/json',
    });
    expect(wrongType.status).toBe(415);
    const malformed = await http(`${site.url}/v2/images`, 'POST', '{"name":', { 'Content-Type': 'application/json' });
    expect([malformed.status, malformed.text.includes('Malformed JSON in request body.')]).toEqual([400, true]);
    const badFormat = await http(`${site.url}/v2/images`, 'POST', '{"disk_format":"vmdk"}', {
      'Content-Type': 'application/json',
    });
    expect(badFormat.status).toBe(400);
    expect(badFormat.text).toContain('disk_format must be one of raw, qcow2, aki, ari, ami');
  });

  it('bmctl image create --file (progress on stderr), list, show, upload, delete', async () => {
    requireBuilt('cli');
    const env = { BM_API_SERVERS: site.url, DATABASE_URL: site.db.url };
    const file = join(site.work, 'ramdisk.img');
    writeFileSync(file, data.subarray(0, 3 * 1024 * 1024));
    const created = await bmctl(
      [
        '--json',
        'image',
        'create',
        'bm-ramdisk',
        '--disk-format',
        'ari',
        '--container-format',
        'ari',
        '--property',
        'hypervisor_type=baremetal',
        '--file',
        file,
      ],
      env,
    );
    expect(created.code).toBe(0);
    expect(created.err).toContain(`uploading ${file}: 0%`);
    expect(created.err).toContain(`uploaded ${file}: 100% (3.0 MiB`);
    const shown = JSON.parse(created.out) as GlanceImage;
    expect(shown).toMatchObject({ name: 'bm-ramdisk', status: 'active', size: 3 * 1024 * 1024 });
    expect(shown.checksum).toBe(
      createHash('md5')
        .update(data.subarray(0, 3 * 1024 * 1024))
        .digest('hex'),
    );

    const list = await bmctl(['image', 'list', '--page-size', '2'], env);
    expect(list.code).toBe(0);
    expect(list.out).toContain('bm-ramdisk');
    expect(list.out).toContain('hypervisor_type=baremetal');
    expect(list.out.match(/p-[abc]/g)).toEqual(['p-a', 'p-b', 'p-c']);

    const show = await bmctl(['image', 'show', shown.id], env);
    expect(show.out).toMatch(/os_hash_algo\s*│?\s*sha512|os_hash_algo +sha512/);
    // By name too, as OpenStack's CLI finds images; a name several images share is refused.
    const byName = await bmctl(['--json', 'image', 'show', 'bm-ramdisk'], env);
    expect([byName.code, JSON.parse(byName.out).name]).toEqual([0, 'bm-ramdisk']);

    const empty = JSON.parse(
      (await bmctl(['--json', 'image', 'create', 'later', '--disk-format', 'raw', '--container-format', 'bare'], env))
        .out,
    );
    expect(empty.status).toBe('queued');
    const uploaded = await bmctl(['--json', 'image', 'upload', empty.id, file], env);
    expect(uploaded.code).toBe(0);
    expect(JSON.parse(uploaded.out)).toMatchObject({ status: 'active', size: 3 * 1024 * 1024 });
    const twice = await bmctl(['image', 'upload', empty.id, file], env);
    expect(twice.code).toBe(1);
    expect(twice.err).toContain('409');

    const bad = await bmctl(['image', 'create', 'x', '--disk-format', 'vmdk', '--container-format', 'bare'], env);
    expect(bad.code).toBe(64);
    const deleted = await bmctl(['image', 'delete', shown.id, empty.id], env);
    expect([deleted.code, deleted.out.trim()]).toEqual([0, `deleted image ${shown.id}\ndeleted image ${empty.id}`]);
    const gone = await bmctl(['image', 'show', shown.id], env);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain(`No image found with ID ${shown.id}`);
    const away = await bmctl(['image', 'list'], { BM_API_SERVERS: `http://127.0.0.1:${await freeTcpPort()}` });
    expect(away.code).toBe(4);
  }, 60_000);

  it('deletes an image and its data (204, then 404)', async () => {
    const del = await http(`${site.url}/v2/images/${image.id}`, 'DELETE');
    expect(del.status).toBe(204);
    expect(existsSync(join(site.dataDir, image.id))).toBe(false);
    expect((await http(`${site.url}/v2/images/${image.id}`, 'DELETE')).status).toBe(404);
    expect((await http(`${site.url}/v2/images/${image.id}/file`, 'GET')).status).toBe(404);
    expect(site.service.child.exitCode).toBeNull();
  });
});
