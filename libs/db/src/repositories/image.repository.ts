import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { namedError } from '@bm/core';
import { NOW_UTC, SqlParams, isUniqueViolation } from './sql';

/** Glance's image statuses; ours go queued → saving → active (and back to queued when an upload fails). */
export type ImageStatus = 'queued' | 'saving' | 'active' | 'killed' | 'deleted' | 'deactivated';

/** An image's metadata, as stored (Glance v2's image record). */
export interface ImageRecord {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  disk_format: string | null;
  container_format: string | null;
  size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_disk: number;
  min_ram: number;
  owner: string | null;
  tags: string[];
  properties: Record<string, string>;
  created_at: Date;
  updated_at: Date;
}

/** What a client may set: at create, and later through PATCH. */
export type ImageChanges = Partial<
  Pick<
    ImageRecord,
    | 'name'
    | 'visibility'
    | 'protected'
    | 'os_hidden'
    | 'disk_format'
    | 'container_format'
    | 'min_disk'
    | 'min_ram'
    | 'owner'
    | 'tags'
    | 'properties'
  >
>;

/** A new image: its id (default: a random UUID) and what the client set. */
export type NewImage = ImageChanges & { id?: string };

/** The data of a completed upload. */
export interface UploadedData {
  size: number;
  checksum: string;
  os_hash_algo: string;
  os_hash_value: string;
}

export const IMAGE_SORT_KEYS = [
  'name',
  'status',
  'created_at',
  'updated_at',
  'size',
  'disk_format',
  'container_format',
  'id',
] as const;
export type ImageSortKey = (typeof IMAGE_SORT_KEYS)[number];

export interface ImageListQuery {
  name?: string;
  status?: string;
  disk_format?: string;
  container_format?: string;
  visibility?: string;
  /** Free-form properties that must all match (`?kernel_id=…`). */
  properties?: Record<string, string>;
  /** Hidden images (os_hidden) are left out unless this is set. */
  os_hidden?: boolean;
  sortKey?: ImageSortKey;
  sortDir?: 'asc' | 'desc';
  /** 1..1000. */
  limit: number;
  /** The id of the last image of the previous page. */
  marker?: string;
}

export class ImageNotFound extends namedError('ImageNotFound', 'not_found') {
  constructor(readonly imageId: string) {
    super(`No image found with ID ${imageId}`);
  }
}

export class ImageExists extends namedError('ImageExists', 'conflict') {
  constructor(readonly imageId: string) {
    super(`Image with identifier ${imageId} already exists!`);
  }
}

/** The image is not in the status the operation needs (Glance's 409 wording). */
export class ImageStatusConflict extends namedError('ImageStatusConflict', 'conflict') {
  constructor(
    readonly imageId: string,
    readonly status: string,
    readonly wanted: string,
  ) {
    super(`Image status transition from ${status} to ${wanted} is not allowed`);
  }
}

export class ImageProtected extends namedError('ImageProtected', 'conflict') {
  constructor(readonly imageId: string) {
    super(`Image ${imageId} is protected and cannot be deleted.`);
  }
}

/** The marker of a listing names no image (Glance: 400). */
export class ImageMarkerNotFound extends namedError('ImageMarkerNotFound', 'invalid') {
  constructor(readonly marker: string) {
    super(`marker not found: ${marker}`);
  }
}

const SORT_EXPR: Record<ImageSortKey, string> = {
  name: `coalesce(name, '')`,
  status: 'status',
  created_at: 'created_at',
  updated_at: 'updated_at',
  size: 'coalesce(size, -1)',
  disk_format: `coalesce(disk_format, '')`,
  container_format: `coalesce(container_format, '')`,
  id: 'id',
};

interface RawImage extends Omit<ImageRecord, 'size' | 'status'> {
  size: string | null;
  status: string;
}

function toRecord(r: RawImage): ImageRecord {
  return { ...r, status: r.status as ImageStatus, size: r.size === null ? null : Number(r.size) };
}

/** Columns a caller may change, in a fixed order. */
const CHANGEABLE = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'owner',
  'tags',
  'properties',
] as const;
const JSON_COLUMNS = new Set<string>(['tags', 'properties']);

/** An id that can name a row (anything else names none: no query). */
function plausibleId(id: string): boolean {
  return typeof id === 'string' && id.length > 0 && id.length <= 36;
}

/**
 * `images`: the images service's metadata. Every status change is one conditional UPDATE
 * (queued → saving → active), so two uploads of one image cannot both start; when no row
 * changes, the row is read to raise the precise error.
 */
export class ImageRepository {
  constructor(private readonly ds: DataSource) {}

  /** Records a queued image; ImageExists when the id is taken. */
  async create(input: NewImage): Promise<ImageRecord> {
    const id = input.id ?? randomUUID();
    const p = new SqlParams();
    const values = [
      p.add(id),
      p.add(input.name ?? null),
      p.add(input.visibility ?? 'shared'),
      p.add(input.protected ?? false),
      p.add(input.os_hidden ?? false),
      p.add(input.disk_format ?? null),
      p.add(input.container_format ?? null),
      p.add(input.min_disk ?? 0),
      p.add(input.min_ram ?? 0),
      p.add(input.owner ?? null),
      `${p.add(JSON.stringify(input.tags ?? []))}::jsonb`,
      `${p.add(JSON.stringify(input.properties ?? {}))}::jsonb`,
    ];
    try {
      const rows: RawImage[] = await this.ds.query(
        `INSERT INTO images (id, name, visibility, protected, os_hidden, disk_format, container_format,
                             min_disk, min_ram, owner, tags, properties, status, created_at, updated_at)
         VALUES (${values.join(', ')}, 'queued', date_trunc('second', ${NOW_UTC}), date_trunc('second', ${NOW_UTC}))
         RETURNING *`,
        p.values,
      );
      return toRecord(rows[0]);
    } catch (e) {
      if (isUniqueViolation(e, 'images_pkey')) throw new ImageExists(id);
      throw e;
    }
  }

  /** The image, or null. */
  async find(id: string): Promise<ImageRecord | null> {
    if (!plausibleId(id)) return null;
    const rows: RawImage[] = await this.ds.query(`SELECT * FROM images WHERE id = $1`, [id]);
    return rows.length ? toRecord(rows[0]) : null;
  }

  /** The image; ImageNotFound otherwise. */
  async get(id: string): Promise<ImageRecord> {
    const image = await this.find(id);
    if (!image) throw new ImageNotFound(id);
    return image;
  }

  /**
   * One page of images matching the filters, sorted by `sortKey` (default created_at) then id, in
   * `sortDir` (default desc, as Glance), after `marker`; ImageMarkerNotFound for an unknown marker.
   */
  async list(q: ImageListQuery): Promise<ImageRecord[]> {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 1000)
      throw new RangeError(`limit must be an integer from 1 to 1000, not ${q.limit}`);
    const key = SORT_EXPR[q.sortKey ?? 'created_at'];
    if (key === undefined) throw new RangeError(`cannot sort by ${String(q.sortKey)}`);
    const dir = q.sortDir === 'asc' ? 'ASC' : 'DESC';
    const p = new SqlParams();
    const where: string[] = [];
    for (const column of ['name', 'status', 'disk_format', 'container_format', 'visibility'] as const) {
      const value = q[column];
      if (value !== undefined) where.push(`${column} = ${p.add(value)}`);
    }
    if (q.properties && Object.keys(q.properties).length)
      where.push(`properties @> ${p.add(JSON.stringify(q.properties))}::jsonb`);
    if (!q.os_hidden) where.push('NOT os_hidden');
    if (q.marker !== undefined) {
      if (!(await this.find(q.marker))) throw new ImageMarkerNotFound(q.marker);
      const m = p.add(q.marker);
      const op = dir === 'ASC' ? '>' : '<';
      where.push(`(${key}, id) ${op} (SELECT ${key}, id FROM images WHERE id = ${m})`);
    }
    const rows: RawImage[] = await this.ds.query(
      `SELECT * FROM images ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${key} ${dir}, id ${dir} LIMIT ${p.add(q.limit)}`,
      p.values,
    );
    return rows.map(toRecord);
  }

  /** Sets what changed (a PATCH's result) and updated_at; ImageNotFound when the image is gone. */
  async update(id: string, changes: ImageChanges): Promise<ImageRecord> {
    const p = new SqlParams();
    const sets = [`updated_at = date_trunc('second', ${NOW_UTC})`];
    for (const column of CHANGEABLE) {
      if (!(column in changes)) continue;
      const value = changes[column];
      sets.push(
        JSON_COLUMNS.has(column) ? `${column} = ${p.add(JSON.stringify(value))}::jsonb` : `${column} = ${p.add(value)}`,
      );
    }
    if (!plausibleId(id)) throw new ImageNotFound(id);
    const rows: [RawImage[], number] = await this.ds.query(
      `UPDATE images SET ${sets.join(', ')} WHERE id = ${p.add(id)} RETURNING *`,
      p.values,
    );
    if (!rows[0].length) throw new ImageNotFound(id);
    return toRecord(rows[0][0]);
  }

  /** queued → saving: the one upload of the image may start. ImageNotFound, or ImageStatusConflict. */
  startUpload(id: string): Promise<ImageRecord> {
    return this.move(id, 'queued', 'saving');
  }

  /** saving → active with the data's size and checksums; ImageNotFound when it was deleted meanwhile. */
  finishUpload(id: string, data: UploadedData): Promise<ImageRecord> {
    return this.move(id, 'saving', 'active', data);
  }

  /** saving → queued: the upload failed, another may be tried (as Glance). */
  abortUpload(id: string): Promise<ImageRecord> {
    return this.move(id, 'saving', 'queued');
  }

  /** Every saving image back to queued (at start: an upload cannot outlive its process); their ids. */
  async resetInterruptedUploads(): Promise<string[]> {
    const rows: [{ id: string }[], number] = await this.ds.query(
      `UPDATE images SET status = 'queued', updated_at = date_trunc('second', ${NOW_UTC})
        WHERE status = 'saving' RETURNING id`,
    );
    return rows[0].map((r) => r.id);
  }

  /** Deletes the image's row; ImageNotFound, or ImageProtected. Returns what it was. */
  async delete(id: string): Promise<ImageRecord> {
    if (!plausibleId(id)) throw new ImageNotFound(id);
    const rows: [RawImage[], number] = await this.ds.query(
      `DELETE FROM images WHERE id = $1 AND NOT protected RETURNING *`,
      [id],
    );
    if (rows[0].length) return toRecord(rows[0][0]);
    const image = await this.get(id);
    throw new ImageProtected(image.id);
  }

  private async move(id: string, from: ImageStatus, to: ImageStatus, data?: UploadedData): Promise<ImageRecord> {
    if (!plausibleId(id)) throw new ImageNotFound(id);
    const p = new SqlParams();
    const sets = [`status = ${p.add(to)}`, `updated_at = date_trunc('second', ${NOW_UTC})`];
    if (data) {
      sets.push(
        `size = ${p.add(data.size)}`,
        `checksum = ${p.add(data.checksum)}`,
        `os_hash_algo = ${p.add(data.os_hash_algo)}`,
        `os_hash_value = ${p.add(data.os_hash_value)}`,
      );
    }
    const rows: [RawImage[], number] = await this.ds.query(
      `UPDATE images SET ${sets.join(', ')} WHERE id = ${p.add(id)} AND status = ${p.add(from)} RETURNING *`,
      p.values,
    );
    if (rows[0].length) return toRecord(rows[0][0]);
    const image = await this.get(id);
    throw new ImageStatusConflict(id, image.status, to);
  }
}
