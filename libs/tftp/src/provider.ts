/**
 * Where served files come from. The server hands providers a normalized relative path
 * (see normalizeRequestPath); a provider answers `undefined` for "not found" or throws a
 * TftpError to refuse (any other exception becomes ERROR 0).
 */
import { normalizeRequestPath } from './paths';

export interface TftpFile {
  /** Bytes in the file (announced with tsize; the transfer sends at most this many). */
  readonly size: number;
  /** `length` bytes at `offset`, fewer only at the end of the file. */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export interface FileProvider {
  open(path: string): Promise<TftpFile | undefined>;
}

/** A file served from memory. */
export function bufferFile(content: Buffer | string): TftpFile {
  const b = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return {
    size: b.length,
    read: async (offset, length) => b.subarray(Math.min(offset, b.length), Math.min(offset + length, b.length)),
    close: async () => undefined,
  };
}

export type FileContent = Buffer | string;
/** Generated on each request (e.g. a pxelinux config rendered from the node's current state). */
export type FileGenerator = (path: string) => FileContent | undefined | Promise<FileContent | undefined>;

/**
 * A map of relative paths to fixed or generated content. Keys are normalized like requests
 * (so `pxelinux.cfg\\default` and `/pxelinux.cfg/default` both hit `pxelinux.cfg/default`).
 */
export class MemoryFileProvider implements FileProvider {
  private readonly entries = new Map<string, FileContent | FileGenerator>();

  constructor(
    entries: Record<string, FileContent | FileGenerator> | Iterable<[string, FileContent | FileGenerator]> = {},
  ) {
    const list = Symbol.iterator in entries ? entries : Object.entries(entries);
    for (const [k, v] of list as Iterable<[string, FileContent | FileGenerator]>) this.set(k, v);
  }

  set(path: string, content: FileContent | FileGenerator): this {
    this.entries.set(normalizeRequestPath(path), content);
    return this;
  }

  delete(path: string): boolean {
    return this.entries.delete(normalizeRequestPath(path));
  }

  has(path: string): boolean {
    return this.entries.has(normalizeRequestPath(path));
  }

  async open(path: string): Promise<TftpFile | undefined> {
    const key = normalizeRequestPath(path);
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    const content = typeof v === 'function' ? await v(key) : v;
    return content === undefined ? undefined : bufferFile(content);
  }
}

/** Content computed from the path alone, for names that cannot be listed in advance (`pxelinux.cfg/01-<mac>`). */
export class FunctionFileProvider implements FileProvider {
  constructor(private readonly generate: FileGenerator) {}

  async open(path: string): Promise<TftpFile | undefined> {
    const key = normalizeRequestPath(path);
    const content = await this.generate(key);
    return content === undefined ? undefined : bufferFile(content);
  }
}

/** The first provider that has the file wins (e.g. generated configs over the file system). */
export class LayeredFileProvider implements FileProvider {
  private readonly layers: readonly FileProvider[];

  constructor(layers: readonly FileProvider[]) {
    this.layers = [...layers];
  }

  async open(path: string): Promise<TftpFile | undefined> {
    for (const layer of this.layers) {
      const f = await layer.open(path);
      if (f !== undefined) return f;
    }
    return undefined;
  }
}
