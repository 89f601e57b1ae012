import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PxeCheck } from '@bm/contracts';
import type { GlanceClient } from '@bm/images';

export interface PxeReadinessOptions {
  /** `[baremetal] tftp_root`. */
  tftpRoot: string;
  /** `[baremetal] pxe_bootfile_name`: the boot loader DHCP names (pxelinux.0). */
  bootfile: string;
  /** The verified image cache (`[netboot] image_cache_dir`). */
  imageCacheDir: string;
  /** Where an image not in the cache would come from. */
  glance: Pick<GlanceClient, 'show'>;
}

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * What `bmctl node validate` asks of netboot: could it write a deploy's PXE files now? It only
 * looks (access(2), stat(2), the image service's record); nothing is written or fetched.
 *
 *   tftp-root      tftp_root is a directory this process can write in (a deploy writes
 *                  `<tftp_root>/<instance>/` and `pxelinux.cfg/01-<mac>` there)
 *   bootfile       pxe_bootfile_name is a non-empty file in tftp_root (DHCP names it)
 *   image-cache    the cache directory, or the directory it will be made in, is writable
 *   deploy-images  each deploy kernel/ramdisk id is cached, or active in the image service
 */
export class PxeReadiness {
  constructor(private readonly o: PxeReadinessOptions) {}

  async check(deployImages: readonly string[] = []): Promise<PxeCheck[]> {
    const checks = [await this.tftpRoot(), await this.bootfile(), await this.imageCache()];
    if (deployImages.length) checks.push(await this.images(deployImages));
    return checks;
  }

  private async tftpRoot(): Promise<PxeCheck> {
    const dir = this.o.tftpRoot;
    try {
      if (!(await stat(dir)).isDirectory()) return fail('tftp-root', `tftp_root ${dir} is not a directory`);
      await access(dir, constants.W_OK | constants.X_OK);
      return pass('tftp-root', `tftp_root ${dir} is writable`);
    } catch (e) {
      return fail('tftp-root', `tftp_root ${dir} is not writable (${why(e)})`);
    }
  }

  private async bootfile(): Promise<PxeCheck> {
    const path = join(this.o.tftpRoot, this.o.bootfile);
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile())
      return fail('bootfile', `${path} is missing: install the PXE boot loader (${this.o.bootfile}) there`);
    if (s.size === 0) return fail('bootfile', `${path} is empty`);
    return pass('bootfile', `${path} (${s.size} bytes)`);
  }

  private async imageCache(): Promise<PxeCheck> {
    // The cache directory is made on the first fetch: then its parent must be writable.
    let dir = this.o.imageCacheDir;
    const exists = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!exists) dir = join(dir, '..');
    try {
      await access(dir, constants.W_OK | constants.X_OK);
      return pass('image-cache', exists ? `${dir} is writable` : `${this.o.imageCacheDir} can be made in ${dir}`);
    } catch (e) {
      return fail('image-cache', `${dir} is not writable (${why(e)})`);
    }
  }

  private async images(ids: readonly string[]): Promise<PxeCheck> {
    const problems: string[] = [];
    const found: string[] = [];
    for (const id of ids) {
      const cached = await stat(join(this.o.imageCacheDir, id)).catch(() => undefined);
      if (cached?.isFile() && cached.size > 0) {
        found.push(`${id} cached`);
        continue;
      }
      try {
        const image = await this.o.glance.show(id);
        if (image.status === 'active') found.push(`${id} active`);
        else problems.push(`${id} is ${image.status}`);
      } catch (e) {
        problems.push(`${id}: ${(e as Error).message}`);
      }
    }
    return problems.length ? fail('deploy-images', problems.join('; ')) : pass('deploy-images', found.join(', '));
  }
}

const pass = (check: string, reason: string): PxeCheck => ({ check, ok: true, reason });
const fail = (check: string, reason: string): PxeCheck => ({ check, ok: false, reason });
