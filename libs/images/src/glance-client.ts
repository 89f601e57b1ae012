import { createHash } from 'node:crypto';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ErrorKind, NovaBmError } from '@bm/core';
import { type GlanceImage, type GlanceImageCreate, type GlancePatchOp, JSON_PATCH_CONTENT_TYPE } from './glance-image';

/** An image service answered with an error status, or could not be reached. */
export class GlanceRequestFailed extends NovaBmError {
  readonly name = 'GlanceRequestFailed';
  readonly kind: ErrorKind;

  constructor(
    message: string,
    /** The HTTP status; 0 when there was no answer. */
    readonly status: number,
  ) {
    super(message);
    this.kind =
      status === 0
        ? 'unavailable'
        : status === 404
          ? 'not_found'
          : status === 409
            ? 'conflict'
            : status >= 400 && status < 500
              ? 'invalid'
              : 'failed';
  }
}

/** The downloaded data did not match the checksums the image service gave. */
export class ImageChecksumMismatch extends NovaBmError {
  readonly name = 'ImageChecksumMismatch';
  readonly kind = 'failed' as const;
}

export interface ImageListQuery {
  name?: string;
  status?: string;
  disk_format?: string;
  container_format?: string;
  visibility?: string;
  sort_key?: string;
  sort_dir?: 'asc' | 'desc';
  /** Page size. */
  limit?: number;
  marker?: string;
  /** Extra-property filters (`kernel_id=…`). */
  properties?: Record<string, string>;
}

export interface ImagePage {
  images: GlanceImage[];
  /** The next page's path (relative to the API root), when there may be one. */
  next?: string;
}

/** An image's data being downloaded, with what it should hash to. */
export interface ImageDownload {
  /** The data; it errors with ImageChecksumMismatch at its end when the data is not what was promised. */
  stream: Readable;
  size: number | null;
  /** md5, hex (the Content-MD5 header or the image's checksum). */
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
}

export interface UploadOptions {
  /** Bytes, when known (sent as Content-Length; chunked otherwise). */
  size?: number;
  /** Called as bytes go out. */
  onProgress?: (sent: number) => void;
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

/** The text of an error answer: Glance's are webob HTML pages or JSON; the message without tags. */
export function errorText(status: number, contentType: string | undefined, body: string): string {
  let text = body;
  if (contentType?.includes('json')) {
    try {
      const parsed = JSON.parse(body) as unknown;
      const values = typeof parsed === 'object' && parsed !== null ? Object.values(parsed) : [];
      const messages = values
        .map((v) => (typeof v === 'object' && v !== null ? (v as { message?: unknown }).message : undefined))
        .filter((m): m is string => typeof m === 'string');
      const own = (parsed as { message?: unknown })?.message;
      text = messages.length ? messages.join('\n') : typeof own === 'string' ? own : body;
    } catch {
      // not JSON after all: the body as it is
    }
  }
  const lines = text
    .split('\n')
    .map((l) => l.replace(/<[^>]+>/g, '').trim())
    .filter((l) => l !== '');
  const unique = [...new Set(lines)];
  return unique.length ? unique.join(': ') : `HTTP ${status}`;
}

/**
 * A Glance v2 client for what nova-bm uses: create, upload, download, show, list, update, delete.
 * Works against our images service or a real Glance; `token` is sent as X-Auth-Token.
 */
export class GlanceClient {
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly token?: string,
    private readonly timeoutMs = 60_000,
  ) {
    this.base = new URL(baseUrl.replace(/\/+$/, '') + '/');
  }

  /** `POST /v2/images`: a queued image. */
  async create(fields: GlanceImageCreate): Promise<GlanceImage> {
    return this.json<GlanceImage>('POST', 'v2/images', fields);
  }

  /** `PUT /v2/images/{id}/file`: streams the data; the image becomes active. */
  async upload(id: string, data: Readable | Buffer, opts: UploadOptions = {}): Promise<void> {
    const source = Buffer.isBuffer(data) ? Readable.from([data]) : data;
    const size = Buffer.isBuffer(data) ? data.length : opts.size;
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        opts.onProgress?.(sent);
        done(null, chunk);
      },
    });
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (size !== undefined) headers['Content-Length'] = String(size);
    const answer = await this.send('PUT', `v2/images/${encodeURIComponent(id)}/file`, headers, (req) =>
      pipeline(source, counter, req),
    );
    await this.expectOk('PUT', `v2/images/${id}/file`, answer);
    answer.body.resume();
  }

  /**
   * `GET /v2/images/{id}/file`: the data as a stream with the checksums it must have (verified as
   * it is read: the stream fails at its end on a mismatch). `verify: false` leaves the check to a
   * reader that hashes the data anyway (the deploy's image writer): the stream is the raw answer.
   */
  async download(id: string, opts: { verify?: boolean } = {}): Promise<ImageDownload> {
    const image = await this.show(id);
    const path = `v2/images/${encodeURIComponent(id)}/file`;
    const answer = await this.send('GET', path, {});
    await this.expectOk('GET', path, answer);
    if (answer.status === 204) {
      answer.body.resume();
      throw new GlanceRequestFailed(`image ${id} has no data (status ${image.status})`, 204);
    }
    const length = Number(answer.headers['content-length']);
    const md5 = answer.headers['content-md5'];
    const checksum = typeof md5 === 'string' && md5 !== '' ? md5 : image.checksum;
    const expected = {
      size: Number.isFinite(length) ? length : image.size,
      checksum,
      os_hash_algo: image.os_hash_algo,
      os_hash_value: image.os_hash_value,
    };
    return { ...expected, stream: opts.verify === false ? answer.body : answer.body.pipe(verifier(id, expected)) };
  }

  /** `GET /v2/images/{id}`. */
  show(id: string): Promise<GlanceImage> {
    return this.json<GlanceImage>('GET', `v2/images/${encodeURIComponent(id)}`);
  }

  /**
   * The image named by `idOrName`, as OpenStack's CLI finds one: by id first, else the one image
   * with that name; none is a 404 GlanceRequestFailed, several a 409 naming their ids.
   */
  async find(idOrName: string): Promise<GlanceImage> {
    let byId: GlanceRequestFailed | undefined;
    try {
      if (UUID.test(idOrName)) return await this.show(idOrName);
    } catch (e) {
      if (!(e instanceof GlanceRequestFailed && e.status === 404)) throw e;
      byId = e;
    }
    const named = await this.listAll({ name: idOrName });
    if (named.length === 1) return named[0];
    if (named.length === 0)
      throw byId ?? new GlanceRequestFailed(`no image with id or name ${JSON.stringify(idOrName)}`, 404);
    throw new GlanceRequestFailed(
      `${named.length} images are named ${JSON.stringify(idOrName)} (${named.map((i) => i.id).join(', ')}): give an id`,
      409,
    );
  }

  /** One page of `GET /v2/images`. */
  async list(query: ImageListQuery = {}): Promise<ImagePage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (key === 'properties' || value === undefined) continue;
      params.set(key, String(value));
    }
    for (const [key, value] of Object.entries(query.properties ?? {})) params.set(key, value);
    const qs = params.toString();
    return this.page(`v2/images${qs ? `?${qs}` : ''}`);
  }

  /** Every image matching `query`, following the `next` links. */
  async listAll(query: ImageListQuery = {}): Promise<GlanceImage[]> {
    const all: GlanceImage[] = [];
    let page = await this.list(query);
    for (;;) {
      all.push(...page.images);
      if (!page.next || page.images.length === 0) return all;
      page = await this.page(page.next.replace(/^\/+/, ''));
    }
  }

  /** `PATCH /v2/images/{id}` (JSON patch, v2.1). */
  update(id: string, ops: GlancePatchOp[]): Promise<GlanceImage> {
    return this.json<GlanceImage>('PATCH', `v2/images/${encodeURIComponent(id)}`, ops, JSON_PATCH_CONTENT_TYPE);
  }

  /** `DELETE /v2/images/{id}`: the image and its data. */
  async delete(id: string): Promise<void> {
    const path = `v2/images/${encodeURIComponent(id)}`;
    const answer = await this.send('DELETE', path, {});
    await this.expectOk('DELETE', path, answer);
    answer.body.resume();
  }

  private async page(path: string): Promise<ImagePage> {
    const body = await this.json<{ images: GlanceImage[]; next?: string }>('GET', path);
    return { images: body.images, ...(body.next ? { next: body.next } : {}) };
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (payload) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(payload.length);
    }
    const answer = await this.send(method, path, headers, async (req) => {
      req.end(payload);
    });
    await this.expectOk(method, path, answer);
    const text = await readAll(answer.body);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new GlanceRequestFailed(`${method} /${path}: the answer is not JSON`, answer.status);
    }
  }

  private async expectOk(method: string, path: string, answer: Answer): Promise<void> {
    if (answer.status < 400) return;
    const text = await readAll(answer.body).catch(() => '');
    const why = errorText(answer.status, answer.headers['content-type'], text);
    throw new GlanceRequestFailed(`${method} /${path}: ${answer.status} ${why}`, answer.status);
  }

  /** One request; `write` sends the body (default: none). Resolves once the answer's head is in. */
  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    write: (req: import('node:http').ClientRequest) => Promise<void> = async (req) => {
      req.end();
    },
  ): Promise<Answer> {
    const url = new URL(path, this.base);
    const all = { ...headers, ...(this.token ? { 'X-Auth-Token': this.token } : {}) };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Answer>((resolve, reject) => {
      const fail = (e: Error & { code?: string }) =>
        reject(
          e instanceof NovaBmError
            ? e
            : new GlanceRequestFailed(`${method} ${url.origin}${url.pathname}: ${e.code ?? e.message}`, 0),
        );
      const req = request(url, { method, headers: all, timeout: this.timeoutMs }, (res) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', fail);
      write(req).catch((e: Error) => {
        // The server may answer (an error) before it read everything: that answer wins.
        req.destroy(e);
      });
    });
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Passes the data through, hashing it; fails at the end when size, md5 or the os_hash differ. */
function verifier(
  id: string,
  expected: { size: number | null; checksum: string | null; os_hash_algo: string | null; os_hash_value: string | null },
): Transform {
  const md5 = createHash('md5');
  const algo = expected.os_hash_algo && expected.os_hash_value ? expected.os_hash_algo : undefined;
  const other = algo ? createHash(algo) : undefined;
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      size += chunk.length;
      md5.update(chunk);
      other?.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      const problems: string[] = [];
      if (expected.size !== null && size !== expected.size) problems.push(`size ${size}, expected ${expected.size}`);
      const got = md5.digest('hex');
      if (expected.checksum && got !== expected.checksum) problems.push(`md5 ${got}, expected ${expected.checksum}`);
      const value = other?.digest('hex');
      if (other && value !== expected.os_hash_value)
        problems.push(`${algo} ${value}, expected ${expected.os_hash_value}`);
      done(problems.length ? new ImageChecksumMismatch(`image ${id}: ${problems.join('; ')}`) : null);
    },
  });
}
