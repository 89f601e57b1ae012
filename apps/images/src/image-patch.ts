import type { ImageChanges, ImageRecord } from '@bm/db';
import { CONTAINER_FORMATS, CORE_ATTRIBUTES, DISK_FORMATS, READ_ONLY_ATTRIBUTES, VISIBILITIES } from '@bm/images';
import { checkPropertyValue, type PatchOperationDto } from './dto';
import { GlanceHttpError } from './glance-errors';

/** Attributes a PATCH may change, each with its check. */
const EDITABLE: Record<string, (value: unknown) => unknown> = {
  name: (v) => {
    if (v !== null && (typeof v !== 'string' || v.length > 255))
      throw GlanceHttpError.badRequest('name must be a string of at most 255 characters, or null');
    return v;
  },
  visibility: (v) => oneOf('visibility', VISIBILITIES, v),
  protected: (v) => boolean('protected', v),
  os_hidden: (v) => boolean('os_hidden', v),
  disk_format: (v) => oneOf('disk_format', DISK_FORMATS, v),
  container_format: (v) => oneOf('container_format', CONTAINER_FORMATS, v),
  min_disk: (v) => count('min_disk', v),
  min_ram: (v) => count('min_ram', v),
  tags: (v) => {
    if (!Array.isArray(v) || v.some((t) => typeof t !== 'string' || t.length > 255))
      throw GlanceHttpError.badRequest('tags must be a list of strings');
    return [...new Set(v as string[])];
  },
};

function oneOf(field: string, choices: readonly string[], v: unknown): string {
  if (typeof v !== 'string' || !choices.includes(v))
    throw GlanceHttpError.badRequest(`${field} must be one of ${choices.join(', ')}`);
  return v;
}

function boolean(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw GlanceHttpError.badRequest(`${field} must be true or false`);
  return v;
}

function count(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1)
    throw GlanceHttpError.badRequest(`${field} must be a non-negative integer`);
  return v;
}

/** `/a~1b` → `a/b` (RFC 6901). */
function attributeOf(path: string): string {
  return path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Applies a v2.1 JSON patch to an image, as Glance does, and returns what changed (for
 * ImageRepository.update); nothing is written when an operation is refused:
 * - read-only attributes (status, size, checksum, …): 403;
 * - core attributes can be added or replaced, never removed (403); disk and container formats
 *   only while the image is queued (403);
 * - extra properties: `add` needs the property to be new, `replace` and `remove` need it to
 *   exist (409 otherwise, Glance's answers);
 * - bad values: 400.
 */
export function applyImagePatch(image: ImageRecord, ops: readonly PatchOperationDto[]): ImageChanges {
  const changes: ImageChanges = {};
  const properties = { ...image.properties };
  let propertiesChanged = false;
  const readOnly = new Set<string>(READ_ONLY_ATTRIBUTES);
  const core = new Set<string>(CORE_ATTRIBUTES);
  for (const op of ops) {
    const attr = attributeOf(op.path);
    if (readOnly.has(attr)) throw GlanceHttpError.forbidden(`Attribute '${attr}' is read-only.`);
    if (core.has(attr)) {
      if (op.op === 'remove') throw GlanceHttpError.forbidden(`Attribute '${attr}' is reserved and cannot be removed.`);
      if ((attr === 'disk_format' || attr === 'container_format') && image.status !== 'queued')
        throw GlanceHttpError.forbidden(`Attribute ${attr} can be only replaced for a queued image.`);
      const check = EDITABLE[attr];
      (changes as Record<string, unknown>)[attr] = check(op.value);
      continue;
    }
    if (attr.length > 255) throw GlanceHttpError.badRequest(`property name '${attr}' is too long`);
    const exists = Object.hasOwn(properties, attr);
    if (op.op === 'remove') {
      if (!exists) throw GlanceHttpError.conflict(`Property ${attr} does not exist.`);
      delete properties[attr];
    } else {
      if (op.op === 'replace' && !exists) throw GlanceHttpError.conflict(`Property ${attr} does not exist.`);
      if (op.op === 'add' && exists) throw GlanceHttpError.conflict(`Property ${attr} already present.`);
      const value = checkPropertyValue(attr, op.value);
      if (value === null) delete properties[attr];
      else properties[attr] = value;
    }
    propertiesChanged = true;
  }
  if (propertiesChanged) changes.properties = properties;
  return changes;
}
