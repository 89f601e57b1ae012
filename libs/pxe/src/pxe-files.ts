import { copyFile, link, mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';

/** The file operations PxeLayout needs in tftp_root (tests give it an in-memory tree). */
export interface PxeFiles {
  /** mkdir -p. */
  makeDir(dir: string): Promise<void>;
  /** Writes `data` under a temporary name, then renames it to `path`: a reader sees the old file or the new one. */
  writeAtomic(path: string, data: string): Promise<void>;
  /** Puts a copy of the file `source` at `target` the same way (no copy when a hard link can do). */
  placeAtomic(source: string, target: string): Promise<void>;
  /** Makes `path` a symbolic link to `target`, removing what was there first. */
  replaceSymlink(target: string, path: string): Promise<void>;
  readText(path: string): Promise<string>;
  /** Removes a file or link; one that is not there, or cannot be removed, is left alone. */
  remove(path: string): Promise<void>;
  /** Removes a directory and everything in it (rm -rf). */
  removeTree(dir: string): Promise<void>;
}

/** PxeFiles on the local disk. */
export class LocalPxeFiles implements PxeFiles {
  async makeDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  async writeAtomic(path: string, data: string): Promise<void> {
    const tmp = tempName(path);
    await writeFile(tmp, data, { mode: 0o644 });
    await rename(tmp, path);
  }

  /** Hard-links the file into place when on the same filesystem, else copies it. */
  async placeAtomic(source: string, target: string): Promise<void> {
    const tmp = tempName(target);
    await rm(tmp, { force: true });
    try {
      await link(source, tmp);
    } catch {
      await copyFile(source, tmp);
    }
    await rename(tmp, target);
  }

  async replaceSymlink(target: string, path: string): Promise<void> {
    await this.remove(path);
    await symlink(target, path);
  }

  readText(path: string): Promise<string> {
    return readFile(path, 'utf8');
  }

  async remove(path: string): Promise<void> {
    await unlink(path).catch(() => undefined);
  }

  async removeTree(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}

function tempName(path: string): string {
  return `${path}.tmp-${process.pid}`;
}
