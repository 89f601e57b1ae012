import { parseCreate, parseListQuery, parsePatch } from './dto';
import { GlanceHttpError } from './glance-errors';

function refusal(fn: () => unknown): { status: number; message: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof GlanceHttpError) return { status: e.status, message: e.message };
    throw e;
  }
}

describe('create body', () => {
  it('splits core attributes (validated) from extra properties (strings)', () => {
    expect(
      parseCreate({
        name: 'deploy-ramdisk',
        disk_format: 'ari',
        container_format: 'ari',
        visibility: 'public',
        tags: ['deploy'],
        kernel_id: '3f1c2a50-4c8e-4f5e-9b7a-0d1e2f3a4b5c',
        hypervisor_type: 'baremetal',
      }),
    ).toEqual({
      core: {
        name: 'deploy-ramdisk',
        disk_format: 'ari',
        container_format: 'ari',
        visibility: 'public',
        tags: ['deploy'],
      },
      properties: { kernel_id: '3f1c2a50-4c8e-4f5e-9b7a-0d1e2f3a4b5c', hypervisor_type: 'baremetal' },
    });
    expect(parseCreate({})).toEqual({ core: {}, properties: {} });
    expect(parseCreate({ name: null, kernel_id: null })).toEqual({ core: { name: null }, properties: {} });
  });

  it('names what is wrong: 400 for bad values, 403 for read-only attributes', () => {
    expect(refusal(() => parseCreate({ disk_format: 'vmdk' }))).toEqual({
      status: 400,
      message: 'disk_format must be one of raw, qcow2, aki, ari, ami',
    });
    expect(refusal(() => parseCreate({ container_format: 'ovf', min_ram: -1 }))?.message).toMatch(
      /container_format must be one of bare, aki, ari, ami; min_ram must not be less than 0/,
    );
    expect(refusal(() => parseCreate({ id: 'not-a-uuid' }))).toEqual({ status: 400, message: 'id must be a UUID' });
    expect(refusal(() => parseCreate({ name: 7 }))?.status).toBe(400);
    expect(refusal(() => parseCreate({ protected: 'true' }))?.status).toBe(400);
    expect(refusal(() => parseCreate({ tags: 'a' }))?.status).toBe(400);
    expect(refusal(() => parseCreate({ status: 'active' }))).toEqual({
      status: 403,
      message: "Attribute 'status' is read-only.",
    });
    expect(refusal(() => parseCreate({ checksum: 'x' }))?.status).toBe(403);
    expect(refusal(() => parseCreate({ os_distro: 7 }))).toEqual({
      status: 400,
      message: 'property os_distro must be a string',
    });
    expect(refusal(() => parseCreate({ ramdisk_id: 'x' }))?.status).toBe(400);
    expect(refusal(() => parseCreate([]))).toEqual({ status: 400, message: 'the request body must be a JSON object' });
  });
});

describe('patch body', () => {
  it('takes a list of add/replace/remove operations on one attribute each', () => {
    const ops = [
      { op: 'replace', path: '/name', value: 'x' },
      { op: 'remove', path: '/kernel_id' },
    ];
    expect(parsePatch(ops)).toEqual(ops);
  });

  it('refuses what is not one', () => {
    expect(refusal(() => parsePatch({ op: 'add' }))?.message).toBe(
      'Request body must be a JSON array of operation objects.',
    );
    expect(refusal(() => parsePatch([{ op: 'move', path: '/name', from: '/x' }]))?.message).toMatch(
      /^operation 1: .*op must be one of add, replace, remove/,
    );
    expect(refusal(() => parsePatch([{ op: 'add', path: '/a/b', value: 'x' }]))?.message).toBe(
      'operation 1: path must name one attribute, e.g. /name',
    );
    expect(refusal(() => parsePatch([{ op: 'add', path: '/a' }]))?.message).toBe('operation 1: add needs a value');
  });
});

describe('list query', () => {
  it('validates the known keys and keeps the others as property filters', () => {
    expect(parseListQuery({ limit: '2', marker: 'm', disk_format: 'raw', sort_key: 'name', kernel_id: 'k' })).toEqual({
      query: { limit: '2', marker: 'm', disk_format: 'raw', sort_key: 'name' },
      properties: { kernel_id: 'k' },
    });
    expect(refusal(() => parseListQuery({ limit: 'ten' }))?.message).toBe('limit must be a non-negative integer');
    expect(refusal(() => parseListQuery({ sort_dir: 'up' }))?.message).toBe('sort_dir must be asc or desc');
    expect(refusal(() => parseListQuery({ name: ['a', 'b'] }))?.message).toBe('name may be given once');
  });
});
