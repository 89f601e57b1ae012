import { CONTAINER_FORMATS, DISK_FORMATS, IMAGE_STATUSES, VISIBILITIES } from './glance-image';

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

const readOnly = (type: unknown, description: string) => ({ readOnly: true, type, description });

/**
 * `GET /v2/schemas/image`: the JSON schema of an image, as Glance serves it (glanceclient builds
 * its command-line options from it and validates what the server returns against it). Formats
 * are the ones this service accepts; extra properties are strings.
 */
export function imageSchema(): Record<string, unknown> {
  return {
    name: 'image',
    additionalProperties: { type: 'string' },
    links: [
      { href: '{self}', rel: 'self' },
      { href: '{file}', rel: 'enclosure' },
      { href: '{schema}', rel: 'describedby' },
    ],
    properties: {
      id: { type: 'string', pattern: UUID_PATTERN, description: 'An identifier for the image' },
      name: { type: ['null', 'string'], maxLength: 255, description: 'Descriptive name for the image' },
      status: { ...readOnly('string', 'Status of the image'), enum: [...IMAGE_STATUSES] },
      visibility: { type: 'string', enum: [...VISIBILITIES], description: 'Scope of image accessibility' },
      protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
      os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
      checksum: { ...readOnly(['null', 'string'], 'md5 hash of image contents.'), maxLength: 32 },
      os_hash_algo: { ...readOnly(['null', 'string'], 'Algorithm to calculate the os_hash_value'), maxLength: 64 },
      os_hash_value: { ...readOnly(['null', 'string'], 'Hexdigest of the image contents'), maxLength: 128 },
      owner: { type: ['null', 'string'], maxLength: 255, description: 'Owner of the image' },
      size: readOnly(['null', 'integer'], 'Size of image file in bytes'),
      virtual_size: readOnly(['null', 'integer'], 'Virtual size of image in bytes'),
      container_format: {
        type: ['null', 'string'],
        enum: [null, ...CONTAINER_FORMATS],
        description: 'Format of the container',
      },
      disk_format: { type: ['null', 'string'], enum: [null, ...DISK_FORMATS], description: 'Format of the disk' },
      created_at: readOnly('string', 'Date and time of image registration'),
      updated_at: readOnly('string', 'Date and time of the last image modification'),
      tags: {
        type: 'array',
        items: { type: 'string', maxLength: 255 },
        description: 'List of strings related to the image',
      },
      direct_url: readOnly('string', 'URL to access the image file kept in external store'),
      min_ram: { type: 'integer', minimum: 0, description: 'Amount of ram (in MB) required to boot image.' },
      min_disk: { type: 'integer', minimum: 0, description: 'Amount of disk space (in GB) required to boot image.' },
      self: readOnly('string', 'An image self url'),
      file: readOnly('string', 'An image file url'),
      schema: readOnly('string', 'An image schema url'),
      kernel_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        is_base: false,
        description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
      },
      ramdisk_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        is_base: false,
        description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
      },
    },
  };
}

/** `GET /v2/schemas/images`: a page of images. */
export function imagesSchema(): Record<string, unknown> {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** The UUID pattern of ids, kernel_id and ramdisk_id. */
export const IMAGE_ID_PATTERN = new RegExp(UUID_PATTERN);
