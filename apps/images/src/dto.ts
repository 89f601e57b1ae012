import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { type FieldProblem, validateDto } from '@bm/core';
import {
  CONTAINER_FORMATS,
  CORE_ATTRIBUTES,
  DISK_FORMATS,
  IMAGE_ID_PATTERN,
  READ_ONLY_ATTRIBUTES,
  VISIBILITIES,
} from '@bm/images';
import { GlanceHttpError } from './glance-errors';

/** The core attributes of `POST /v2/images`; extra properties are checked by {@link parseCreate}. */
export class CreateImageDto {
  @IsOptional()
  @Matches(IMAGE_ID_PATTERN, { message: 'id must be a UUID' })
  id?: string;

  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(255)
  name?: string | null;

  @IsOptional()
  @IsIn(DISK_FORMATS, { message: `disk_format must be one of ${DISK_FORMATS.join(', ')}` })
  disk_format?: string;

  @IsOptional()
  @IsIn(CONTAINER_FORMATS, { message: `container_format must be one of ${CONTAINER_FORMATS.join(', ')}` })
  container_format?: string;

  @IsOptional()
  @IsIn(VISIBILITIES, { message: `visibility must be one of ${VISIBILITIES.join(', ')}` })
  visibility?: string;

  @IsOptional()
  @IsBoolean()
  protected?: boolean;

  @IsOptional()
  @IsBoolean()
  os_hidden?: boolean;

  @IsOptional()
  @IsInt()
  @Min(0)
  min_disk?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  min_ram?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(128)
  @IsString({ each: true })
  @MaxLength(255, { each: true })
  tags?: string[];
}

/** One operation of a v2.1 JSON patch (RFC 6902 add, replace, remove on a top-level attribute). */
export class PatchOperationDto {
  @IsIn(['add', 'replace', 'remove'], { message: 'op must be one of add, replace, remove' })
  op: 'add' | 'replace' | 'remove';

  @IsString()
  @Matches(/^\/[^/]+$/, { message: 'path must name one attribute, e.g. /name' })
  path: string;

  @IsOptional()
  value?: unknown;
}

/** The query of `GET /v2/images`: paging, sorting and the filters; other keys filter on properties. */
export class ListImagesQueryDto {
  @IsOptional()
  @Matches(/^[0-9]{1,6}$/, { message: 'limit must be a non-negative integer' })
  limit?: string;

  @IsOptional()
  @IsString()
  marker?: string;

  @IsOptional()
  @IsString()
  name?: string;

  @IsOptional()
  @IsString()
  status?: string;

  @IsOptional()
  @IsString()
  disk_format?: string;

  @IsOptional()
  @IsString()
  container_format?: string;

  @IsOptional()
  @IsString()
  visibility?: string;

  @IsOptional()
  @IsIn(['true', 'false', 'True', 'False'], { message: 'os_hidden must be true or false' })
  os_hidden?: string;

  @IsOptional()
  @IsIn(['name', 'status', 'created_at', 'updated_at', 'size', 'disk_format', 'container_format', 'id'], {
    message: 'sort_key must be one of name, status, created_at, updated_at, size, disk_format, container_format, id',
  })
  sort_key?: string;

  @IsOptional()
  @IsIn(['asc', 'desc'], { message: 'sort_dir must be asc or desc' })
  sort_dir?: string;
}

/** The query keys that are not property filters. */
const LIST_KEYS = new Set([
  'limit',
  'marker',
  'name',
  'status',
  'disk_format',
  'container_format',
  'visibility',
  'os_hidden',
  'sort_key',
  'sort_dir',
]);

function describe(problems: FieldProblem[]): string {
  return problems.map((p) => (p.message.startsWith(p.field) ? p.message : `${p.field} ${p.message}`)).join('; ');
}

/** A property key Glance would accept: 1..255 characters. */
function checkPropertyKey(key: string): void {
  if (key.length === 0 || key.length > 255) throw GlanceHttpError.badRequest(`property name '${key}' is invalid`);
}

/** The value of an extra property: a string (kernel_id and ramdisk_id: a UUID or null). */
export function checkPropertyValue(key: string, value: unknown): string | null {
  if ((key === 'kernel_id' || key === 'ramdisk_id') && value === null) return null;
  if (typeof value !== 'string') throw GlanceHttpError.badRequest(`property ${key} must be a string`);
  if (value.length > 65535) throw GlanceHttpError.badRequest(`property ${key} is longer than 65535 characters`);
  if ((key === 'kernel_id' || key === 'ramdisk_id') && !IMAGE_ID_PATTERN.test(value))
    throw GlanceHttpError.badRequest(`property ${key} must be an image id (a UUID), not '${value}'`);
  return value;
}

export interface ParsedCreate {
  core: CreateImageDto;
  properties: Record<string, string>;
}

/**
 * A create body: read-only attributes are 403 (as Glance), core attributes go through
 * class-validator, every other key is an extra property with a string value.
 */
export function parseCreate(body: unknown): ParsedCreate {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw GlanceHttpError.badRequest('the request body must be a JSON object');
  const core: Record<string, unknown> = {};
  const properties: Record<string, string> = {};
  const readOnly = new Set<string>(READ_ONLY_ATTRIBUTES.filter((a) => a !== 'id'));
  const coreNames = new Set<string>(CORE_ATTRIBUTES);
  for (const [key, value] of Object.entries(body)) {
    if (readOnly.has(key)) throw GlanceHttpError.forbidden(`Attribute '${key}' is read-only.`);
    if (coreNames.has(key)) {
      core[key] = value;
      continue;
    }
    checkPropertyKey(key);
    const checked = checkPropertyValue(key, value);
    if (checked !== null) properties[key] = checked;
  }
  const v = validateDto(CreateImageDto, core);
  if (!v.ok) throw GlanceHttpError.badRequest(describe(v.problems));
  return { core: v.value, properties };
}

/** A patch body: a JSON array of operations, each validated. */
export function parsePatch(body: unknown): PatchOperationDto[] {
  if (!Array.isArray(body)) throw GlanceHttpError.badRequest('Request body must be a JSON array of operation objects.');
  return body.map((item, i) => {
    const v = validateDto(PatchOperationDto, item);
    if (!v.ok) throw GlanceHttpError.badRequest(`operation ${i + 1}: ${describe(v.problems)}`);
    if (v.value.op !== 'remove' && !('value' in (item as object)))
      throw GlanceHttpError.badRequest(`operation ${i + 1}: ${v.value.op} needs a value`);
    return v.value;
  });
}

export interface ParsedListQuery {
  query: ListImagesQueryDto;
  /** Every other key: a filter on an extra property. */
  properties: Record<string, string>;
}

/** The list query: one value per key; the known keys validated, the rest property filters. */
export function parseListQuery(raw: Record<string, unknown>): ParsedListQuery {
  const known: Record<string, unknown> = {};
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw GlanceHttpError.badRequest(`${key} may be given once`);
    if (LIST_KEYS.has(key)) known[key] = value;
    else properties[key] = value;
  }
  const v = validateDto(ListImagesQueryDto, known);
  if (!v.ok) throw GlanceHttpError.badRequest(describe(v.problems));
  return { query: v.value, properties };
}
