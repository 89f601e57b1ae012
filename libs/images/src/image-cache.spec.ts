import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GlanceClient, ImageChecksumMismatch } from './glance-client';
import { ImageCache, ImageNotActive, InvalidImageId } from './image-cache';

const ID = '0b5f6c0e-58a3-4c5c-9d3a-2f1c2d3e4f50';

/** A Glance v2 that knows a few images: GET /v2/images/{id} and /file, counting downloads. */
class TinyGlance {
  readonly downloads: string[] = [];
  readonly images = new Map<string, { status: string; data: Buffer; served?: Buffer }>();
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const m = /^\/v2\/images\/([^/]+)(\/file)?$/.exec(req.url ?? '');
      const image = m && this.images.get(m[1]);
      if (!m || !image) return void res.writeHead(404).end('not found');
      if (m[2]) {
        this.downloads.push(m[1]);
        const body = image.served ?? image.data;
        return void res.writeHead(200, { 'Content-Length': body.length }).end(body);
      }
      const hash = (algo: string) => createHash(algo).update(image.data).digest('hex');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(
        JSON.stringify({
          id: m[1],
          status: image.status,
          size: image.data.length,
          checksum: hash('md5'),
          os_hash_algo: 'sha512',
          os_hash_value: hash('sha512'),
        }),
      );
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((done) => this.server.close(() => done()));
  }
}

describe('ImageCache', () => {
  let glance: TinyGlance;
  let dir: string;
  let cache: ImageCache;
  let url: string;

  beforeEach(async () => {
    glance = new TinyGlance();
    url = await glance.start();
    dir = await mkdtemp(join(tmpdir(), 'image-cache-'));
    cache = new ImageCache(join(dir, 'cache'), new GlanceClient(url));
  });
  afterEach(async () => {
    await glance.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads an image once, verified, into a file named by its id; later fetches reuse it', async () => {
    glance.images.set(ID, { status: 'active', data: Buffer.from('a deploy kernel') });
    const path = await cache.fetch(ID);
    expect(path).toBe(join(dir, 'cache', ID));
    expect(await readFile(path, 'utf8')).toBe('a deploy kernel');
    expect(await cache.fetch(ID)).toBe(path);
    expect(glance.downloads).toEqual([ID]);
  });

  it('concurrent fetches of one id share one download', async () => {
    glance.images.set(ID, { status: 'active', data: Buffer.alloc(1 << 20, 7) });
    const paths = await Promise.all([cache.fetch(ID), cache.fetch(ID), cache.fetch(ID)]);
    expect(new Set(paths).size).toBe(1);
    expect(glance.downloads).toEqual([ID]);
  });

  it('data that does not match the record fails and leaves nothing in the cache', async () => {
    glance.images.set(ID, { status: 'active', data: Buffer.from('good data'), served: Buffer.from('evil data') });
    await expect(cache.fetch(ID)).rejects.toThrow(ImageChecksumMismatch);
    expect(await readdir(join(dir, 'cache'))).toEqual([]);
  });

  it('GlanceClient.download({ verify: false }) hands the data over unchecked, for a reader that hashes it itself', async () => {
    glance.images.set(ID, { status: 'active', data: Buffer.from('good data'), served: Buffer.from('evil data') });
    const unchecked = await new GlanceClient(url).download(ID, { verify: false });
    const chunks: Buffer[] = [];
    for await (const c of unchecked.stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('evil data');
    // …and what the reader must check it against comes with it.
    expect(unchecked.checksum).toBe(createHash('md5').update('good data').digest('hex'));
  });

  it('a cached file whose size is not the record size (truncated) is fetched again', async () => {
    glance.images.set(ID, { status: 'active', data: Buffer.from('the whole ramdisk') });
    await cache.fetch(ID);
    await writeFile(join(dir, 'cache', ID), 'the who');
    expect(await readFile(await cache.fetch(ID), 'utf8')).toBe('the whole ramdisk');
    expect(glance.downloads).toEqual([ID, ID]);
  });

  it('refuses an image without data, an unknown image and an id that could name a path', async () => {
    glance.images.set(ID, { status: 'queued', data: Buffer.alloc(0) });
    await expect(cache.fetch(ID)).rejects.toThrow(ImageNotActive);
    await expect(cache.fetch('8d7c0a7e-0000-4000-8000-000000000000')).rejects.toMatchObject({
      name: 'GlanceRequestFailed',
      kind: 'not_found',
    });
    for (const bad of ['../etc/passwd', '/etc/passwd', '', 'a/b'])
      await expect(cache.fetch(bad)).rejects.toThrow(InvalidImageId);
    expect(glance.downloads).toEqual([]);
  });

  it('fetchAll maps each key to its file', async () => {
    const other = '1c2d3e4f-58a3-4c5c-9d3a-2f1c2d3e4f51';
    glance.images.set(ID, { status: 'active', data: Buffer.from('k') });
    glance.images.set(other, { status: 'active', data: Buffer.from('r') });
    expect(await cache.fetchAll({ kernel: ID, ramdisk: other })).toEqual({
      kernel: join(dir, 'cache', ID),
      ramdisk: join(dir, 'cache', other),
    });
  });
});
