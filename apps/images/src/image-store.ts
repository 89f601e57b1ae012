import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HASH_ALGO } from '@bm/images';

/** What an upload wrote. */
export interface StoredData {
  size: number;
  /** md5, hex. */
  checksum: string;
  os_hash_algo: string;
  os_hash_value: string;
}

/** Temporary files: hidden and suffixed, so nothing half-written looks like an image. */
const TEMP = /^\.upload-.*\.part$/;

/**
 * The image files in `[images] data_dir`: `<id>` once complete. An upload is written to
 * `.upload-<id>-<random>.part`, fsynced, then renamed, so a file named by an id is always whole.
 */
export class ImageStore {
  constructor(readonly dir: string) {}

  /** Creates the directory; removes temporary files a stopped process left. Their names. */
  async prepare(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    const stale = (await readdir(this.dir)).filter((name) => TEMP.test(name));
    await Promise.all(stale.map((name) => unlink(join(this.dir, name)).catch(() => undefined)));
    return stale;
  }

  path(id: string): string {
    if (!/^[0-9A-Za-z-]{1,36}$/.test(id)) throw new RangeError(`not an image id: ${id}`);
    return join(this.dir, id);
  }

  /**
   * Streams `data` to a temporary file while hashing it (md5 and sha512), then renames it to the
   * image's name. On any failure the temporary file is removed and the error is rethrown.
   */
  async write(id: string, data: Readable): Promise<StoredData> {
    const final = this.path(id);
    const temp = join(this.dir, `.upload-${id}-${randomBytes(6).toString('hex')}.part`);
    const md5 = createHash('md5');
    const sha = createHash(HASH_ALGO);
    let size = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        size += chunk.length;
        md5.update(chunk);
        sha.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(data, hasher, createWriteStream(temp, { flags: 'wx', mode: 0o640 }));
      const fd = await open(temp, 'r');
      try {
        await fd.sync();
      } finally {
        await fd.close();
      }
      await rename(temp, final);
    } catch (e) {
      await unlink(temp).catch(() => undefined);
      throw e;
    }
    return { size, checksum: md5.digest('hex'), os_hash_algo: HASH_ALGO, os_hash_value: sha.digest('hex') };
  }

  /** The image's data, or null when there is no file. */
  async open(id: string): Promise<{ stream: ReadStream; size: number } | null> {
    const file = this.path(id);
    try {
      const s = await stat(file);
      return { stream: createReadStream(file), size: s.size };
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Removes the image's file, if any. */
  async remove(id: string): Promise<void> {
    await unlink(this.path(id)).catch((e: { code?: string }) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}
