import type { ImageRecord } from '@bm/db';
import { parsePatch } from './dto';
import { GlanceHttpError } from './glance-errors';
import { applyImagePatch } from './image-patch';

const IMAGE: ImageRecord = {
  id: '3f1c2a50-4c8e-4f5e-9b7a-0d1e2f3a4b5c',
  name: 'deploy-kernel',
  status: 'queued',
  visibility: 'shared',
  protected: false,
  os_hidden: false,
  disk_format: 'aki',
  container_format: 'aki',
  size: null,
  checksum: null,
  os_hash_algo: null,
  os_hash_value: null,
  min_disk: 0,
  min_ram: 0,
  owner: null,
  tags: [],
  properties: { hypervisor_type: 'baremetal' },
  created_at: new Date(0),
  updated_at: new Date(0),
};
const ACTIVE: ImageRecord = { ...IMAGE, status: 'active' };

/** The patch applied, or the status and message it is refused with. */
function patch(image: ImageRecord, ops: unknown) {
  try {
    return applyImagePatch(image, parsePatch(ops));
  } catch (e) {
    if (e instanceof GlanceHttpError) return { status: e.status, message: e.message };
    throw e;
  }
}

describe('applyImagePatch (Glance v2.1 JSON patch)', () => {
  it('replaces and adds core attributes, checked', () => {
    expect(
      patch(ACTIVE, [
        { op: 'replace', path: '/name', value: 'renamed' },
        { op: 'add', path: '/min_ram', value: 512 },
        { op: 'replace', path: '/visibility', value: 'public' },
        { op: 'replace', path: '/tags', value: ['a', 'a', 'b'] },
      ]),
    ).toEqual({ name: 'renamed', min_ram: 512, visibility: 'public', tags: ['a', 'b'] });
    expect(patch(ACTIVE, [{ op: 'replace', path: '/name', value: null }])).toEqual({ name: null });
    expect(patch(ACTIVE, [{ op: 'replace', path: '/visibility', value: 'everyone' }])).toEqual({
      status: 400,
      message: 'visibility must be one of public, private, shared, community',
    });
    expect(patch(ACTIVE, [{ op: 'replace', path: '/min_disk', value: -1 }])).toMatchObject({ status: 400 });
    expect(patch(ACTIVE, [{ op: 'replace', path: '/protected', value: 'yes' }])).toMatchObject({ status: 400 });
  });

  it('adds, replaces and removes extra properties; the result holds them all', () => {
    expect(
      patch(IMAGE, [
        { op: 'add', path: '/kernel_id', value: '0bd1b3a4-0000-4000-8000-000000000000' },
        { op: 'replace', path: '/hypervisor_type', value: 'ironic' },
        { op: 'add', path: '/a~1b', value: 'slash' },
      ]),
    ).toEqual({
      properties: {
        hypervisor_type: 'ironic',
        kernel_id: '0bd1b3a4-0000-4000-8000-000000000000',
        'a/b': 'slash',
      },
    });
    expect(patch(IMAGE, [{ op: 'remove', path: '/hypervisor_type' }])).toEqual({ properties: {} });
    expect(IMAGE.properties).toEqual({ hypervisor_type: 'baremetal' }); // not mutated
  });

  it('answers as Glance: 409 for a missing or present property, 403 for read-only or core removal', () => {
    expect(patch(IMAGE, [{ op: 'replace', path: '/nope', value: 'x' }])).toEqual({
      status: 409,
      message: 'Property nope does not exist.',
    });
    expect(patch(IMAGE, [{ op: 'remove', path: '/nope' }])).toMatchObject({ status: 409 });
    expect(patch(IMAGE, [{ op: 'add', path: '/hypervisor_type', value: 'x' }])).toEqual({
      status: 409,
      message: 'Property hypervisor_type already present.',
    });
    expect(patch(IMAGE, [{ op: 'replace', path: '/status', value: 'active' }])).toEqual({
      status: 403,
      message: "Attribute 'status' is read-only.",
    });
    expect(patch(IMAGE, [{ op: 'add', path: '/checksum', value: 'x' }])).toMatchObject({ status: 403 });
    expect(patch(IMAGE, [{ op: 'remove', path: '/name' }])).toMatchObject({ status: 403 });
  });

  it('changes disk and container formats only while queued', () => {
    expect(patch(IMAGE, [{ op: 'replace', path: '/disk_format', value: 'raw' }])).toEqual({ disk_format: 'raw' });
    expect(patch(ACTIVE, [{ op: 'replace', path: '/disk_format', value: 'raw' }])).toEqual({
      status: 403,
      message: 'Attribute disk_format can be only replaced for a queued image.',
    });
    expect(patch(IMAGE, [{ op: 'replace', path: '/container_format', value: 'ovf' }])).toMatchObject({
      status: 400,
    });
  });

  it('refuses the whole patch when one operation is bad (nothing partial)', () => {
    expect(
      patch(IMAGE, [
        { op: 'replace', path: '/name', value: 'ok' },
        { op: 'replace', path: '/size', value: 1 },
      ]),
    ).toMatchObject({ status: 403 });
  });

  it('checks property values: strings, image ids for kernel_id and ramdisk_id', () => {
    expect(patch(IMAGE, [{ op: 'add', path: '/x', value: 5 }])).toEqual({
      status: 400,
      message: 'property x must be a string',
    });
    expect(patch(IMAGE, [{ op: 'add', path: '/ramdisk_id', value: 'initrd' }])).toEqual({
      status: 400,
      message: "property ramdisk_id must be an image id (a UUID), not 'initrd'",
    });
  });
});
