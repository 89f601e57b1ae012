import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFromText } from '@bm/config';
import {
  DIAGNOSTICS_DRIVER,
  NOVA_OBJECT_DATA,
  NOVA_OBJECT_NAME,
  instanceDiagnostics,
  legacyDiagnostics,
  sentFlavor,
  sentImage,
  systemMetadata,
} from '@bm/contracts';
import { validateDto } from '@bm/core';
import { resolveSpawnImages } from './boot-images';
import { ComputeRpcController } from './compute-rpc.controller';
import { deployDisk, instanceRef } from './instance-args';

/**
 * Every compute method as Nova Zed's own ComputeAPI sends it, captured from the real client
 * (python3-nova 26.2.2, its objects built as the API and conductor build them):
 *
 *   /usr/bin/python3 test/peers/nova-compute/nova_compute.py < test/peers/nova-compute/capture.json
 *
 * (`capture: true`: the messages are recorded, not sent), pinned at zed (6.1), plus rebuild_instance
 * pinned at 6.0. The e2e test (test/nova-compute.e2e.spec.ts) sends the same against the services.
 */
interface Sent {
  pin: string;
  method: string;
  version: string;
  args: Record<string, unknown>;
}
const SENT = JSON.parse(readFileSync(join(__dirname, '../test-fixtures/nova-zed-compute-rpc.json'), 'utf8')) as Sent[];
const capture = JSON.parse(readFileSync(join(__dirname, '../../../test/peers/nova-compute/capture.json'), 'utf8')) as {
  instance: { uuid: string; node: string; flavor: { extra_specs: Record<string, string> } };
  image: { id: string; properties: { kernel_id: string; ramdisk_id: string } };
  ops: { op: string; image?: { id: string } }[];
};
const sent = (method: string, pin = 'zed') => SENT.find((s) => s.method === method && s.pin === pin)!;

/** The DTO class of the controller's handler for each oslo method (Nest's pattern metadata, design:paramtypes). */
function dtoOfMethod(): Map<string, (new () => object) | undefined> {
  const proto = ComputeRpcController.prototype as unknown as Record<string, unknown>;
  const map = new Map<string, (new () => object) | undefined>();
  for (const key of Object.getOwnPropertyNames(proto)) {
    const handler = proto[key];
    if (typeof handler !== 'function') continue;
    const patterns = Reflect.getMetadata('microservices:pattern', handler) as unknown[] | undefined;
    const types = Reflect.getMetadata('design:paramtypes', proto, key) as (new () => object)[] | undefined;
    for (const p of patterns ?? []) if (typeof p === 'string') map.set(p, types?.[0]);
  }
  return map;
}

describe("compute's arguments as Nova Zed sends them", () => {
  const dtos = dtoOfMethod();

  it('the capture holds every method the issue names, at the versions Nova sends', () => {
    expect(SENT.map((s) => `${s.method} ${s.version} (${s.pin})`)).toEqual([
      'build_and_run_instance 6.0 (zed)',
      'reboot_instance 6.0 (zed)',
      'stop_instance 6.0 (zed)',
      'start_instance 6.0 (zed)',
      'rebuild_instance 6.1 (zed)',
      'get_console_output 6.0 (zed)',
      'get_diagnostics 6.0 (zed)',
      'get_instance_diagnostics 6.0 (zed)',
      'get_host_uptime 6.0 (zed)',
      'terminate_instance 6.0 (zed)',
      'rebuild_instance 6.0 (6.0)',
    ]);
    // Every one of them has a handler.
    for (const s of SENT) expect([s.method, dtos.has(s.method)]).toEqual([s.method, true]);
  });

  it.each(SENT.map((s) => [`${s.method} (${s.pin})`, s] as const))(
    "%s: the handler's DTO takes every argument; an unknown one is still refused",
    (_, s) => {
      const dto = dtos.get(s.method);
      if (Object.keys(s.args).length === 0) return; // get_host_uptime: no arguments, no DTO
      expect(dto).toBeDefined();
      expect(validateDto(dto!, s.args)).toMatchObject({ ok: true });
      expect(validateDto(dto!, { ...s.args, no_such_argument: 1 })).toEqual({
        ok: false,
        problems: [{ field: 'no_such_argument', message: 'is not a known field' }],
      });
    },
  );

  it('build_and_run_instance: the instance, flavor, images and disk read from the objects', async () => {
    const a = sent('build_and_run_instance').args;
    expect(a.node).toBe(capture.instance.node);
    const instance = instanceRef(a.instance as Record<string, unknown>);
    expect(instance).toMatchObject({ uuid: capture.instance.uuid, name: 'vm1' });
    expect(a.request_spec).toMatchObject({ [NOVA_OBJECT_NAME]: 'RequestSpec' });
    const flavor = sentFlavor(a);
    expect(flavor).toMatchObject({
      memory_mb: 512,
      root_gb: 1,
      ephemeral_gb: 1,
      extra_specs: capture.instance.flavor.extra_specs,
    });
    expect(sentImage(a)).toMatchObject({ id: capture.image.id, properties: capture.image.properties });
    expect(systemMetadata(instance.fields)).toMatchObject({
      image_kernel_id: capture.image.properties.kernel_id,
      image_ramdisk_id: capture.image.properties.ramdisk_id,
    });
    const r = await resolveSpawnImages(
      { image: sentImage(a), instance: instance.fields, flavor },
      loadConfigFromText('', { env: {} }),
      () => Promise.reject(new Error('everything is in the arguments')),
    );
    expect(r).toEqual({
      imageId: capture.image.id,
      boot: {
        kernel: capture.image.properties.kernel_id,
        ramdisk: capture.image.properties.ramdisk_id,
        deploy_kernel: capture.instance.flavor.extra_specs['baremetal:deploy_kernel_id'],
        deploy_ramdisk: capture.instance.flavor.extra_specs['baremetal:deploy_ramdisk_id'],
      },
    });
    expect(deployDisk(flavor, instance.fields)).toEqual({ root_mb: 1024, swap_mb: 1, ephemeral_mb: 1024 });
  });

  it("rebuild_instance: the new image_ref, on the instance too, and the request spec's flavor", async () => {
    const newImage = capture.ops.find((o) => o.op === 'rebuild_instance')!.image!.id;
    for (const pin of ['zed', '6.0']) {
      const a = sent('rebuild_instance', pin).args;
      expect(a.image_ref).toBe(newImage);
      expect(a.orig_image_ref).toBe(capture.image.id);
      expect('reimage_boot_volume' in a).toBe(pin === 'zed');
      const instance = instanceRef(a.instance as Record<string, unknown>);
      expect(instance.fields.image_ref).toBe(newImage);
      expect(sentFlavor({ request_spec: a.request_spec })).toMatchObject({ memory_mb: 512 });
      const r = await resolveSpawnImages(
        { image_ref: a.image_ref, instance: instance.fields, flavor: sentFlavor({ request_spec: a.request_spec }) },
        loadConfigFromText('', { env: {} }),
        () => Promise.reject(new Error('the instance carries the kernel and ramdisk')),
      );
      expect(r.imageId).toBe(newImage);
    }
  });

  it("the RequestSpec's ImageMeta gives the image id when `image` is empty (a boot from volume)", () => {
    const a = sent('build_and_run_instance').args;
    expect(sentImage({ image: {}, request_spec: a.request_spec })).toMatchObject({
      id: capture.image.id,
      // ImageMetaProps has no kernel_id: Nova drops it from the spec's image.
      properties: {},
    });
    expect(sentImage({})).toBeUndefined();
  });
});

describe('the readers on older shapes', () => {
  it('legacy dicts: instance_type, the legacy request spec, Grizzly system_metadata rows', () => {
    expect(sentFlavor({ instance_type: { memory_mb: 1 } })).toEqual({ memory_mb: 1 });
    expect(sentFlavor({ request_spec: { instance_type: { memory_mb: 2 } } })).toEqual({ memory_mb: 2 });
    expect(sentFlavor({})).toBeUndefined();
    expect(systemMetadata({ system_metadata: [{ key: 'image_kernel_id', value: 'k' }, { nokey: 1 }] })).toEqual({
      image_kernel_id: 'k',
    });
    expect(systemMetadata({})).toEqual({});
  });
});

describe('diagnostics as Nova reads them', () => {
  const facts = {
    node: 'n-1',
    hypervisor: 'baremetal',
    uptimeS: 42,
    cpus: 2,
    memoryMb: 1024,
    macs: ['52:54:00:00:00:01'],
  };

  it('get_instance_diagnostics: a Diagnostics 1.0 primitive with every top-level field set', () => {
    const p = instanceDiagnostics(facts);
    expect(p).toMatchObject({ [NOVA_OBJECT_NAME]: 'Diagnostics', 'nova_object.version': '1.0' });
    const d = p[NOVA_OBJECT_DATA];
    expect(Object.keys(d).sort()).toEqual(
      [
        'state',
        'driver',
        'hypervisor',
        'hypervisor_os',
        'uptime',
        'config_drive',
        'memory_details',
        'cpu_details',
        'nic_details',
        'disk_details',
        'num_cpus',
        'num_nics',
        'num_disks',
      ].sort(),
    );
    expect(d).toMatchObject({
      state: 'running',
      driver: DIAGNOSTICS_DRIVER,
      hypervisor: 'baremetal',
      uptime: 42,
      num_cpus: 2,
      num_nics: 1,
      num_disks: 1,
      memory_details: { [NOVA_OBJECT_NAME]: 'MemoryDiagnostics', [NOVA_OBJECT_DATA]: { maximum: 1024, used: null } },
    });
    expect((d.cpu_details as Record<string, unknown>[]).map((c) => c[NOVA_OBJECT_DATA])).toEqual([
      { id: 0, time: null, utilisation: null },
      { id: 1, time: null, utilisation: null },
    ]);
    expect((d.nic_details as Record<string, Record<string, unknown>>[])[0][NOVA_OBJECT_DATA].mac_address).toBe(
      '52:54:00:00:00:01',
    );
    // A value of Nova's HypervisorDriver enum, or the object does not deserialize.
    expect(['libvirt', 'xenapi', 'vmwareapi', 'ironic', 'hyperv']).toContain(d.driver);
  });

  it('get_diagnostics: the legacy dict', () => {
    expect(legacyDiagnostics(facts)).toEqual({
      state: 'running',
      driver: 'baremetal',
      hypervisor: 'baremetal',
      node: 'n-1',
      uptime: 42,
      num_cpus: 2,
      memory_mb: 1024,
      mac_addresses: ['52:54:00:00:00:01'],
    });
  });
});
