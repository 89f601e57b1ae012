/**
 * The TFTP tree of one deployment, as Nova's PXE driver kept it:
 *   <tftp_root>/<instance_uuid>/{config, kernel, ramdisk, deploy_kernel, deploy_ramdisk}
 *   <tftp_root>/pxelinux.cfg/01-<mac>  →  symlink to <tftp_root>/<instance_uuid>/config
 * Files are written to a temporary name and renamed, so a booting node never reads half a file;
 * preparing again is safe (resumable), and cleaning removes exactly what preparing made.
 */
import { copyFile, link, mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { type PxeConfigInput, macConfigName, pxePaths, renderPxeConfig, switchToBoot } from './config';

export interface BootImages {
  kernel: string;
  ramdisk: string;
  deployKernel: string;
  deployRamdisk: string;
}

async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/** Hard-links an image into place (no copy) when on the same filesystem, else copies it. */
async function placeImage(source: string, target: string): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  try {
    await link(source, tmp);
  } catch {
    await copyFile(source, tmp);
  }
  await rename(tmp, target);
}

export class PxeLayout {
  constructor(readonly tftpRoot: string) {}

  /** Writes the images, the config (default deploy) and one `01-<mac>` link per NIC. */
  async prepare(i: Omit<PxeConfigInput, 'tftpRoot'> & { macs: string[]; images: BootImages }): Promise<string> {
    const p = pxePaths(this.tftpRoot, i.instanceUuid);
    await mkdir(p.dir, { recursive: true });
    await placeImage(i.images.kernel, p.kernel);
    await placeImage(i.images.ramdisk, p.ramdisk);
    await placeImage(i.images.deployKernel, p.deployKernel);
    await placeImage(i.images.deployRamdisk, p.deployRamdisk);
    await writeAtomic(p.config, renderPxeConfig({ ...i, tftpRoot: this.tftpRoot }));
    const cfgDir = posix.join(this.tftpRoot, 'pxelinux.cfg');
    await mkdir(cfgDir, { recursive: true });
    for (const mac of i.macs) {
      const linkPath = posix.join(cfgDir, macConfigName(mac));
      await unlink(linkPath).catch(() => undefined);
      await symlink(p.config, linkPath);
    }
    return p.config;
  }

  /** After the image is written: `default boot` and the root filesystem's UUID. */
  async activateBoot(instanceUuid: string, rootUuid: string): Promise<void> {
    const { config } = pxePaths(this.tftpRoot, instanceUuid);
    await writeAtomic(config, switchToBoot(await readFile(config, 'utf8'), rootUuid));
  }

  /** Removes the MAC links and the instance's directory (missing pieces are fine). */
  async clean(instanceUuid: string, macs: string[]): Promise<void> {
    for (const mac of macs)
      await unlink(posix.join(this.tftpRoot, 'pxelinux.cfg', macConfigName(mac))).catch(() => undefined);
    await rm(pxePaths(this.tftpRoot, instanceUuid).dir, { recursive: true, force: true });
  }
}
