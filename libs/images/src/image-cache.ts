import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { NovaBmError } from '@bm/core';
import type { GlanceClient } from './glance-client';

/** An image id that cannot name a cache file (anything but letters, digits and dashes). */
export class InvalidImageId extends NovaBmError {
  readonly name = 'InvalidImageId';
  readonly kind = 'invalid' as const;
}

/** The image exists but has no data to boot from (queued, saving, killed, deactivated…). */
export class ImageNotActive extends NovaBmError {
  readonly name = 'ImageNotActive';
  readonly kind = 'conflict' as const;
}

/** Glance ids are UUIDs; this also keeps any id from naming a path outside the cache. */
const IMAGE_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/**
 * A directory of verified image files, one per image id: where the netboot service keeps the
 * kernels and ramdisks it links into `<tftp_root>/<instance_uuid>/` (Ironic's master_images;
 * Nova's PXE driver fetched an image "only if the target file does not exist", as this does).
 *
 * A file appears under its id only after its data matched the size, md5 `checksum` and
 * `os_hash_value` the image service gave (GlanceClient.download verifies while it streams, into a
 * temporary name that is renamed at the end), so a reader never sees half an image or a corrupt
 * one. A cached file is used again while its record is still `active` with the same size. Image
 * data never changes once active (Glance refuses a second upload), so an id names one content.
 * Concurrent fetches of one id share one download.
 */
export class ImageCache {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    private readonly glance: Pick<GlanceClient, 'show' | 'download'>,
  ) {}

  /** The local file of image `id`: downloaded and verified first when it is not cached. */
  fetch(id: string): Promise<string> {
    if (!IMAGE_ID.test(id)) return Promise.reject(new InvalidImageId(`${JSON.stringify(id)} is not an image id`));
    const running = this.inFlight.get(id);
    if (running) return running;
    const loading = this.load(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, loading);
    return loading;
  }

  /** Each image of `ids` (same keys), fetched one after the other. */
  async fetchAll<K extends string>(ids: Record<K, string>): Promise<Record<K, string>> {
    const files = {} as Record<K, string>;
    for (const key of Object.keys(ids) as K[]) files[key] = await this.fetch(ids[key]);
    return files;
  }

  private async load(id: string): Promise<string> {
    const image = await this.glance.show(id);
    if (image.status !== 'active') throw new ImageNotActive(`image ${id} is ${image.status}: it has no data to boot`);
    const path = join(this.dir, id);
    const cached = await stat(path).catch(() => undefined);
    if (cached?.isFile() && cached.size === image.size) return path;
    await mkdir(this.dir, { recursive: true });
    const partial = `${path}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const download = await this.glance.download(id);
      await pipeline(download.stream, createWriteStream(partial, { mode: 0o644 }));
      await rename(partial, path);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    return path;
  }
}
