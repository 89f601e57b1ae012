import { legacyInstancePayload, novaIsoTime } from './instance-notifications';

const UUID = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';
// Every key of Nova's info_from_instance (Icehouse), in no particular order.
const NOVA_KEYS = [
  'tenant_id',
  'user_id',
  'instance_id',
  'display_name',
  'reservation_id',
  'hostname',
  'instance_type',
  'instance_type_id',
  'instance_flavor_id',
  'memory_mb',
  'disk_gb',
  'vcpus',
  'root_gb',
  'ephemeral_gb',
  'host',
  'node',
  'availability_zone',
  'cell_name',
  'created_at',
  'launched_at',
  'terminated_at',
  'deleted_at',
  'image_ref_url',
  'os_type',
  'kernel_id',
  'ramdisk_id',
  'architecture',
  'state',
  'state_description',
  'progress',
  'access_ip_v4',
  'access_ip_v6',
  'fixed_ips',
  'image_meta',
  'metadata',
];

describe("legacyInstancePayload (Nova's info_from_instance)", () => {
  it('a Grizzly plain dict with the flavor sent beside it', () => {
    const p = legacyInstancePayload(
      {
        uuid: UUID,
        project_id: 'p1',
        user_id: 'u1',
        display_name: 'web-1',
        hostname: 'web-1',
        reservation_id: 'r-1',
        instance_type_id: 5,
        memory_mb: 2048,
        vcpus: 2,
        root_gb: 20,
        ephemeral_gb: 0,
        image_ref: 'http://glance/images/abc',
        created_at: '2026-11-26 01:00:00+00:00',
        metadata: { role: 'web' },
      },
      {
        host: 'cn1',
        node: 'node-uuid',
        vm_state: 'building',
        task_state: 'spawning',
        flavor: { name: 'bm.small', flavorid: '42', id: 5, memory_mb: 9999 },
      },
    );
    expect(Object.keys(p).sort()).toEqual([...NOVA_KEYS].sort());
    expect(p).toMatchObject({
      tenant_id: 'p1',
      user_id: 'u1',
      instance_id: UUID,
      display_name: 'web-1',
      reservation_id: 'r-1',
      instance_type: 'bm.small',
      instance_type_id: 5,
      instance_flavor_id: '42',
      memory_mb: 2048,
      disk_gb: 20,
      vcpus: 2,
      host: 'cn1',
      node: 'node-uuid',
      state: 'building',
      state_description: 'spawning',
      image_ref_url: 'http://glance/images/abc',
      created_at: '2026-11-26 01:00:00+00:00',
      launched_at: '',
      metadata: { role: 'web' },
      fixed_ips: [],
      progress: '',
    });
  });

  it('a current Nova Instance primitive: sizes from its Flavor primitive; lifecycle times in oslo strtime form', () => {
    const flavor = {
      'nova_object.name': 'Flavor',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.2',
      'nova_object.data': {
        name: 'bm.large',
        flavorid: 'f-9',
        id: 9,
        memory_mb: 65536,
        vcpus: 16,
        root_gb: 400,
        ephemeral_gb: 100,
      },
    };
    const instance = {
      'nova_object.name': 'Instance',
      'nova_object.namespace': 'nova',
      'nova_object.version': '2.7',
      'nova_object.data': { uuid: UUID, project_id: 'p2', display_name: 'db', flavor, progress: 0 },
    };
    const at = new Date('2026-11-26T01:02:03.456Z');
    const p = legacyInstancePayload(instance, {
      host: 'cn2',
      node: 'n2',
      vm_state: 'active',
      task_state: null,
      launched_at: at,
    });
    expect(p).toMatchObject({
      tenant_id: 'p2',
      instance_type: 'bm.large',
      instance_flavor_id: 'f-9',
      memory_mb: 65536,
      vcpus: 16,
      root_gb: 400,
      ephemeral_gb: 100,
      disk_gb: 500,
      state: 'active',
      state_description: '',
      launched_at: '2026-11-26T01:02:03.456000',
      progress: 0,
    });
    expect(novaIsoTime(at)).toBe('2026-11-26T01:02:03.456000');
  });

  it("nothing but a uuid: Nova's empty values, never undefined (the payload is JSON)", () => {
    const p = legacyInstancePayload({ uuid: UUID }, { host: 'cn1', vm_state: 'deleted', task_state: null });
    expect(Object.values(p).every((v) => v !== undefined)).toBe(true);
    expect(p).toMatchObject({
      instance_id: UUID,
      tenant_id: '',
      memory_mb: 0,
      disk_gb: 0,
      instance_type: '',
      node: '',
      instance_type_id: null,
    });
  });
});
