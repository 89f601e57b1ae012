/**
 * Files under a root directory. Every name is confined lexically (normalizeRequestPath), then
 * resolved with realpath and refused when the real path leaves the real root (a symlink
 * pointing outside); the final component is opened with O_NOFOLLOW and, where /proc exists,
 * the opened descriptor is checked again, so a symlink swapped in meanwhile is refused too.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { TftpError, TftpErrorCode } from './errors';
import { isWithin, normalizeRequestPath } from './paths';
import type { FileProvider, TftpFile } from './provider';

export interface FsFileProviderOptions {
  root: string;
  /** Absolute paths that also name the root in requests (e.g. `/tftpboot`); the root's own path always does. */
  aliases?: readonly string[];
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

const NOT_FOUND = new Set(['ENOENT', 'ENOTDIR']);

export class FsFileProvider implements FileProvider {
  readonly root: string;
  private readonly aliases: string[];
  private realRoot?: Promise<string>;

  constructor(options: FsFileProviderOptions | string) {
    const o = typeof options === 'string' ? { root: options } : options;
    this.root = path.resolve(o.root);
    this.aliases = [this.root, ...(o.aliases ?? [])];
  }

  /** The relative path a request maps to (lexical confinement only). */
  normalize(requested: string): string {
    return normalizeRequestPath(requested, this.aliases);
  }

  async open(requested: string): Promise<TftpFile | undefined> {
    const rel = this.normalize(requested);
    this.realRoot ??= fsp.realpath(this.root);
    const root = await this.realRoot;
    let real: string;
    try {
      real = await fsp.realpath(path.join(root, rel));
    } catch (e) {
      if (NOT_FOUND.has(errno(e) ?? '')) return undefined;
      throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, `cannot resolve ${rel}: ${errno(e) ?? String(e)}`);
    }
    if (!isWithin(root, real))
      throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, `${rel} resolves outside the TFTP root`);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (e) {
      if (NOT_FOUND.has(errno(e) ?? '')) return undefined;
      throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, `cannot open ${rel}: ${errno(e) ?? String(e)}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, `${rel} is not a regular file`);
      const opened = await fsp.readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
      if (opened !== undefined && opened.startsWith('/') && !isWithin(root, opened)) {
        throw new TftpError(TftpErrorCode.ACCESS_VIOLATION, `${rel} resolves outside the TFTP root`);
      }
      return fileHandleFile(fh, st.size);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }
}

function fileHandleFile(fh: fsp.FileHandle, size: number): TftpFile {
  let closed = false;
  return {
    size,
    async read(offset, length) {
      const want = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      for (let i = 0; got < want && i < 1_000_000; i++) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
