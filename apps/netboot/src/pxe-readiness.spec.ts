import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GlanceImage } from '@bm/images';
import { PxeReadiness } from './pxe-readiness';

const K = '11111111-1111-4111-8111-111111111111';
const R = '22222222-2222-4222-8222-222222222222';
const Q = '33333333-3333-4333-8333-333333333333';

describe('PxeReadiness (netboot validate_pxe)', () => {
  let dir: string;
  const glance = {
    show: async (id: string): Promise<GlanceImage> => {
      if (id === R) return { id, status: 'active' } as GlanceImage;
      if (id === Q) return { id, status: 'queued' } as GlanceImage;
      throw new Error(`image ${id}: 404 Not Found`);
    },
  };
  const readiness = (o: { tftpRoot?: string; cache?: string } = {}) =>
    new PxeReadiness({
      tftpRoot: o.tftpRoot ?? join(dir, 'tftpboot'),
      bootfile: 'pxelinux.0',
      imageCacheDir: o.cache ?? join(dir, 'tftpboot', 'master_images'),
      glance,
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pxe-ready-'));
    await mkdir(join(dir, 'tftpboot'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('a ready tftp_root: every check passes; the cache is made on the first fetch', async () => {
    await writeFile(join(dir, 'tftpboot', 'pxelinux.0'), Buffer.alloc(42));
    expect(await readiness().check()).toEqual([
      { check: 'tftp-root', ok: true, reason: `tftp_root ${dir}/tftpboot is writable` },
      { check: 'bootfile', ok: true, reason: `${dir}/tftpboot/pxelinux.0 (42 bytes)` },
      { check: 'image-cache', ok: true, reason: `${dir}/tftpboot/master_images can be made in ${dir}/tftpboot` },
    ]);
  });

  it('no tftp_root, no boot loader, nowhere to cache: each fails, saying why', async () => {
    const checks = await readiness({ tftpRoot: join(dir, 'gone'), cache: join(dir, 'gone', 'cache') }).check();
    expect(checks.map((c) => [c.check, c.ok, c.reason])).toEqual([
      ['tftp-root', false, `tftp_root ${dir}/gone is not writable (ENOENT)`],
      ['bootfile', false, `${dir}/gone/pxelinux.0 is missing: install the PXE boot loader (pxelinux.0) there`],
      ['image-cache', false, `${dir}/gone is not writable (ENOENT)`],
    ]);
    await writeFile(join(dir, 'tftpboot', 'pxelinux.0'), '');
    expect((await readiness().check())[1]).toEqual({
      check: 'bootfile',
      ok: false,
      reason: `${dir}/tftpboot/pxelinux.0 is empty`,
    });
  });

  it('a tftp_root that is a file is not a directory to write in', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    expect((await readiness({ tftpRoot: join(dir, 'plain') }).check())[0]).toEqual({
      check: 'tftp-root',
      ok: false,
      reason: `tftp_root ${dir}/plain is not a directory`,
    });
  });

  it('deploy images: cached, or active in the image service; queued or unknown ones fail', async () => {
    await mkdir(join(dir, 'tftpboot', 'master_images'));
    await writeFile(join(dir, 'tftpboot', 'master_images', K), 'kernel');
    expect((await readiness().check([K, R]))[3]).toEqual({
      check: 'deploy-images',
      ok: true,
      reason: `${K} cached, ${R} active`,
    });
    const bad = (await readiness().check([Q, '44444444-4444-4444-8444-444444444444']))[3];
    expect(bad).toEqual({
      check: 'deploy-images',
      ok: false,
      reason: `${Q} is queued; 44444444-4444-4444-8444-444444444444: image 44444444-4444-4444-8444-444444444444: 404 Not Found`,
    });
  });
});
