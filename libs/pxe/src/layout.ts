/**
 * The TFTP tree of one deployment, as Nova's PXE driver kept it:
 *   <tftp_root>/<instance_uuid>/{config, kernel, ramdisk, deploy_kernel, deploy_ramdisk}
 *   <tftp_root>/pxelinux.cfg/01-<mac>  →  symlink to <tftp_root>/<instance_uuid>/config
 * Files are written to a temporary name and renamed, so a booting node never reads half a file;
 * preparing again is safe (resumable), and cleaning removes exactly what preparing made. Every
 * file access goes through PxeFiles (LocalPxeFiles: the local disk).
 */
import { posix } from 'node:path';
import { type PxeConfigInput, macConfigName, pxePaths, renderPxeConfig, switchToBoot } from './config';
import { LocalPxeFiles, type PxeFiles } from './pxe-files';

/**
 * The four image files of a deployment on this host (netboot's verified image cache): the
 * instance's kernel and ramdisk, the deploy kernel and ramdisk. On the bus images travel by id
 * (libs/contracts BootImages, the same keys); the netboot service turns ids into these files.
 */
export interface BootImageFiles {
  kernel: string;
  ramdisk: string;
  deploy_kernel: string;
  deploy_ramdisk: string;
}

export class PxeLayout {
  constructor(
    readonly tftpRoot: string,
    private readonly files: PxeFiles = new LocalPxeFiles(),
  ) {}

  /** Writes the images, the config (default deploy) and one `01-<mac>` link per NIC. */
  async prepare(i: Omit<PxeConfigInput, 'tftpRoot'> & { macs: string[]; images: BootImageFiles }): Promise<string> {
    const p = pxePaths(this.tftpRoot, i.instanceUuid);
    await this.files.makeDir(p.dir);
    await this.files.placeAtomic(i.images.kernel, p.kernel);
    await this.files.placeAtomic(i.images.ramdisk, p.ramdisk);
    await this.files.placeAtomic(i.images.deploy_kernel, p.deployKernel);
    await this.files.placeAtomic(i.images.deploy_ramdisk, p.deployRamdisk);
    await this.files.writeAtomic(p.config, renderPxeConfig({ ...i, tftpRoot: this.tftpRoot }));
    const cfgDir = posix.join(this.tftpRoot, 'pxelinux.cfg');
    await this.files.makeDir(cfgDir);
    for (const mac of i.macs) await this.files.replaceSymlink(p.config, posix.join(cfgDir, macConfigName(mac)));
    return p.config;
  }

  /** After the image is written: `default boot` and the root filesystem's UUID. */
  async activateBoot(instanceUuid: string, rootUuid: string): Promise<void> {
    const { config } = pxePaths(this.tftpRoot, instanceUuid);
    await this.files.writeAtomic(config, switchToBoot(await this.files.readText(config), rootUuid));
  }

  /** Removes the MAC links and the instance's directory (missing pieces are fine). */
  async clean(instanceUuid: string, macs: string[]): Promise<void> {
    for (const mac of macs) await this.files.remove(posix.join(this.tftpRoot, 'pxelinux.cfg', macConfigName(mac)));
    await this.files.removeTree(pxePaths(this.tftpRoot, instanceUuid).dir);
  }
}
