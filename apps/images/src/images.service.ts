import type { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { type ImageRecord, type ImageRepository, ImageNotFound } from '@bm/db';
import type { GlanceImage } from '@bm/images';
import type { ParsedCreate, ParsedListQuery, PatchOperationDto } from './dto';
import { GlanceHttpError } from './glance-errors';
import { applyImagePatch } from './image-patch';
import type { ImageStore } from './image-store';

/** Glance's default and largest page sizes (limit_param_default, api_limit_max). */
export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 1000;

/** `2026-01-02T03:04:05Z`, as Glance writes times. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An image as Glance v2 shows it: core attributes, then the extra properties as top-level keys. */
export function glanceView(r: ImageRecord): GlanceImage {
  return {
    ...r.properties,
    id: r.id,
    name: r.name,
    status: r.status,
    visibility: r.visibility,
    protected: r.protected,
    os_hidden: r.os_hidden,
    checksum: r.checksum,
    os_hash_algo: r.os_hash_algo,
    os_hash_value: r.os_hash_value,
    owner: r.owner,
    size: r.size,
    virtual_size: null,
    min_disk: r.min_disk,
    min_ram: r.min_ram,
    container_format: r.container_format,
    disk_format: r.disk_format,
    created_at: isoSeconds(r.created_at),
    updated_at: isoSeconds(r.updated_at),
    tags: r.tags,
    self: `/v2/images/${r.id}`,
    file: `/v2/images/${r.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export interface ImagePageView {
  images: GlanceImage[];
  first: string;
  schema: string;
  next?: string;
}

/** The image service's use-cases: metadata through ImageRepository, data through ImageStore. */
export class ImagesService {
  private readonly log = new Logger('images');

  constructor(
    private readonly images: ImageRepository,
    readonly store: ImageStore,
  ) {}

  /** At start: the data directory exists, stale temporary files are gone, cut uploads are queued again. */
  async recover(): Promise<void> {
    const stale = await this.store.prepare();
    if (stale.length) this.log.warn(`removed ${stale.length} unfinished upload file(s) from ${this.store.dir}`);
    const reset = await this.images.resetInterruptedUploads();
    for (const id of reset) this.log.warn(`image ${id}: its upload was cut off; queued again`);
  }

  async create({ core, properties }: ParsedCreate): Promise<GlanceImage> {
    const image = await this.images.create({ ...core, properties });
    this.log.log(`image ${image.id} (${image.name ?? ''}) created: ${image.disk_format}/${image.container_format}`);
    return glanceView(image);
  }

  async show(id: string): Promise<GlanceImage> {
    return glanceView(await this.images.get(id));
  }

  /** One page; `next` (the same query after the last image) when the page is full. */
  async list({ query, properties }: ParsedListQuery): Promise<ImagePageView> {
    const limit = Math.min(query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(query.limit), MAX_PAGE_SIZE);
    if (limit < 1) throw GlanceHttpError.badRequest('limit must be a positive integer');
    const rows = await this.images.list({
      name: query.name,
      status: query.status,
      disk_format: query.disk_format,
      container_format: query.container_format,
      visibility: query.visibility === 'all' ? undefined : query.visibility,
      os_hidden: query.os_hidden?.toLowerCase() === 'true',
      properties,
      sortKey: query.sort_key as 'name' | undefined,
      sortDir: query.sort_dir as 'asc' | 'desc' | undefined,
      limit,
      marker: query.marker,
    });
    const page: ImagePageView = { images: rows.map(glanceView), first: '/v2/images', schema: '/v2/schemas/images' };
    if (rows.length === limit) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries({ ...properties, ...query })) {
        if (value !== undefined && key !== 'marker' && key !== 'limit') params.set(key, String(value));
      }
      params.set('marker', rows[rows.length - 1].id);
      if (query.limit !== undefined) params.set('limit', String(limit));
      page.next = `/v2/images?${params.toString()}`;
    }
    return page;
  }

  async patch(id: string, ops: PatchOperationDto[]): Promise<GlanceImage> {
    const image = await this.images.get(id);
    const changes = applyImagePatch(image, ops);
    const updated = Object.keys(changes).length ? await this.images.update(id, changes) : image;
    return glanceView(updated);
  }

  /**
   * queued → saving, the data to a temporary file then renamed, → active with its size and
   * checksums. A failed or cut upload leaves no file and the image queued again; an image deleted
   * meanwhile loses the data just written (410, as Glance).
   */
  async upload(id: string, data: Readable): Promise<void> {
    await this.images.startUpload(id);
    const started = Date.now();
    let stored;
    try {
      stored = await this.store.write(id, data);
    } catch (e) {
      await this.images.abortUpload(id).catch(() => undefined);
      this.log.warn(`image ${id}: upload failed: ${(e as Error).message}`);
      throw e;
    }
    try {
      await this.images.finishUpload(id, stored);
    } catch (e) {
      await this.store.remove(id);
      if (e instanceof ImageNotFound)
        throw new GlanceHttpError(
          410,
          `Image ${id} could not be found after upload. The image may have been deleted during the upload.`,
        );
      await this.images.abortUpload(id).catch(() => undefined);
      throw e;
    }
    const seconds = (Date.now() - started) / 1000;
    this.log.log(`image ${id}: ${stored.size} bytes uploaded in ${seconds.toFixed(1)} s, md5 ${stored.checksum}`);
  }

  /** The data of an active image (null: it has none yet, 204); 404 when its file is missing. */
  async download(id: string): Promise<{ stream: Readable; size: number; checksum: string | null } | null> {
    const image = await this.images.get(id);
    if (image.status !== 'active') return null;
    const data = await this.store.open(id);
    if (!data) throw GlanceHttpError.notFound(`The data of image ${id} is missing from ${this.store.dir}`);
    return { stream: data.stream, size: data.size, checksum: image.checksum };
  }

  /** The row, then the file (a protected image keeps both). */
  async delete(id: string): Promise<void> {
    const image = await this.images.delete(id);
    await this.store.remove(id);
    this.log.log(`image ${id} (${image.name ?? ''}) deleted`);
  }
}
