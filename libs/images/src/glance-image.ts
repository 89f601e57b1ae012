/** Glance v2's disk formats that the bare-metal deploy uses (whole-disk raw or qcow2, AMI-style parts). */
export const DISK_FORMATS = ['raw', 'qcow2', 'aki', 'ari', 'ami'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

export const CONTAINER_FORMATS = ['bare', 'aki', 'ari', 'ami'] as const;
export type ContainerFormat = (typeof CONTAINER_FORMATS)[number];

export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'deactivated'] as const;

/** The content type of an image PATCH (RFC 6902 as Glance's v2.1 patch). */
export const JSON_PATCH_CONTENT_TYPE = 'application/openstack-images-v2.1-json-patch';

/** The hash Glance computes besides the md5 `checksum` (its default `hashing_algorithm`). */
export const HASH_ALGO = 'sha512';

/** Attributes the server sets; a client that tries gets 403 (Glance's rule). */
export const READ_ONLY_ATTRIBUTES = [
  'id',
  'status',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'owner',
] as const;

/** Attributes that are columns rather than free-form properties (Glance's base properties). */
export const CORE_ATTRIBUTES = [
  ...READ_ONLY_ATTRIBUTES,
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'tags',
] as const;

/** An image as Glance v2 returns it: the core attributes, then each extra property as a top-level string. */
export interface GlanceImage {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: number | null;
  virtual_size: number | null;
  min_disk: number;
  min_ram: number;
  container_format: string | null;
  disk_format: string | null;
  created_at: string;
  updated_at: string;
  tags: string[];
  self: string;
  file: string;
  schema: string;
  /** Extra properties (kernel_id, ramdisk_id, …). */
  [property: string]: unknown;
}

/** What `POST /v2/images` takes: core attributes plus extra string properties. */
export interface GlanceImageCreate {
  id?: string;
  name?: string | null;
  disk_format?: string;
  container_format?: string;
  visibility?: string;
  protected?: boolean;
  os_hidden?: boolean;
  min_disk?: number;
  min_ram?: number;
  tags?: string[];
  [property: string]: unknown;
}

/** One operation of an image PATCH. */
export interface GlancePatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** The extra properties of an image (everything that is not a core attribute). */
export function extraProperties(image: Record<string, unknown>): Record<string, unknown> {
  const core = new Set<string>(CORE_ATTRIBUTES);
  return Object.fromEntries(Object.entries(image).filter(([key]) => !core.has(key)));
}
