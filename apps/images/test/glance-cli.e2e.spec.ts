import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBuilt } from '../../../test/support/bmctl';
import { type ImagesSite, startImagesService } from './images-service';

// Peer: the real `glance` CLI (Debian python3-glanceclient, API v2) against the built images
// service (so it runs with the e2e tests, after the build). glanceclient reads /versions, caches /v2/schemas/image under $HOME/.glanceclient,
// builds its options from that schema and validates our answers against it.
const run = promisify(execFile);
const MIB = 1024 * 1024;

/**
 * glance with its standard input closed (`<&-`): with a pipe or /dev/null there, image-create
 * takes standard input as the image data (glanceclient's get_data_file), and would wait or
 * upload nothing.
 */
function glanceRun(home: string, args: string[]) {
  return run('sh', ['-c', 'exec glance "$@" <&-', 'glance', ...args], {
    env: { PATH: process.env.PATH!, HOME: home, LANG: 'C.UTF-8' },
    timeout: 20_000,
  });
}

/** `glance … --table` output as property → value (multi-line values joined). */
function properties(table: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last = '';
  for (const line of table.split('\n')) {
    const m = /^\|\s*(\S*)\s*\|\s*(.*?)\s*\|$/.exec(line);
    if (!m || m[1] === 'Property') continue;
    if (m[1] === '') out[last] += m[2];
    else out[(last = m[1])] = m[2];
  }
  return out;
}

describe('the glance CLI against our images service', () => {
  let site: ImagesSite;
  let home: string;
  const glance = async (...args: string[]) => {
    const { stdout } = await glanceRun(home, [
      '--os-image-url',
      site.url,
      '--os-auth-token',
      'x',
      '--os-image-api-version',
      '2',
      ...args,
    ]);
    return stdout;
  };
  const data = randomBytes(5 * MIB);
  let file: string;
  let id: string;

  beforeAll(async () => {
    requireBuilt('images');
    site = await startImagesService('bm_glance_peer');
    home = join(site.work, 'home');
    mkdirSync(home);
    file = join(site.work, 'disk.img');
    writeFileSync(file, data);
  });
  afterAll(async () => {
    await site?.stop();
  });

  it('image-create --file: created, uploaded, shown active with our checksums', async () => {
    // Without --os-image-api-version, glance negotiates through /versions and caches the schema.
    const { stdout } = await glanceRun(home, [
      '--os-image-url',
      site.url,
      '--os-auth-token',
      'x',
      'image-create',
      '--name',
      'peer-disk',
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--property',
      'hypervisor_type=baremetal',
      '--file',
      file,
    ]);
    const p = properties(stdout);
    expect(p).toMatchObject({
      name: 'peer-disk',
      status: 'active',
      disk_format: 'raw',
      container_format: 'bare',
      size: String(5 * MIB),
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
      hypervisor_type: 'baremetal',
    });
    id = p.id;
    expect(readFileSync(join(home, '.glanceclient', 'image_schema.json'), 'utf8')).toContain('"name": "image"');
  });

  it('image-list and image-show', async () => {
    await glance('image-create', '--name', 'peer-empty', '--disk-format', 'qcow2', '--container-format', 'bare');
    const list = await glance('image-list');
    expect(list).toMatch(new RegExp(`\\| ${id} \\| peer-disk +\\|`));
    expect(list).toContain('peer-empty');
    const paged = await glance('--verbose', 'image-list', '--page-size', '1');
    expect(paged.match(/peer-(disk|empty)/g)?.sort()).toEqual(['peer-disk', 'peer-empty']);
    expect(properties(await glance('image-show', id))).toMatchObject({ id, name: 'peer-disk', status: 'active' });
  });

  it('image-update of name and properties', async () => {
    const p = properties(await glance('image-update', '--name', 'peer-renamed', '--property', 'os_distro=debian', id));
    expect(p).toMatchObject({ name: 'peer-renamed', os_distro: 'debian', hypervisor_type: 'baremetal' });
    const q = properties(await glance('image-update', '--remove-property', 'os_distro', id));
    expect(q.os_distro).toBeUndefined();
  });

  it('image-download --file: the same bytes (glance verifies the checksum)', async () => {
    const out = join(site.work, 'download.img');
    await glance('image-download', '--file', out, id);
    expect(readFileSync(out).equals(data)).toBe(true);
  });

  it('image-delete, then image-show fails with our 404 message', async () => {
    await glance('image-delete', id);
    const e = (await glance('image-show', id).catch((x: unknown) => x)) as { code: number; stderr: string };
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`No image found with ID ${id}`);
  });
});
