import { loadConfigFromText } from '@bm/config';
import type { RebuildInstanceArgs } from '@bm/contracts';
import type { NodeRepository } from '@bm/db';
import type { GlanceClient } from '@bm/images';
import type { Spawner } from '../spawn';
import type { InstanceNotifications } from './instance-notifications';
import { RebuildInstance } from './rebuild-instance';

const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const OLD = '0e000000-0000-4000-8000-00000000000e';
const NEW = '0f000000-0000-4000-8000-00000000000f';
const K = '0a000000-0000-4000-8000-00000000000a';
const R = '0b000000-0000-4000-8000-00000000000b';
const DK = '0c000000-0000-4000-8000-00000000000c';
const DR = '0d000000-0000-4000-8000-00000000000d';

/** RebuildInstance over doubles: what the image service was asked, what the spawner got. */
function rebuild() {
  const asked: string[] = [];
  const spawned: { request: Parameters<Spawner['rebuild']>[0]; preserve: boolean }[] = [];
  const config = loadConfigFromText(`[DEFAULT]\nhost = cn1\n`, { env: {} });
  const nodes = { instanceNode: async () => ({ id: 3, uuid: 'node-3' }) } as unknown as NodeRepository;
  const spawner = {
    rebuild: async (request: Parameters<Spawner['rebuild']>[0], preserve: boolean) => {
      spawned.push({ request, preserve });
      return { id: 3, task_state: 'active', instance_uuid: INSTANCE };
    },
  } as unknown as Spawner;
  const notifications = {
    around: <T>(_step: string, _i: unknown, work: () => Promise<T>) => work(),
  } as unknown as InstanceNotifications;
  const glance = {
    show: async (id: string) => {
      asked.push(id);
      return { id, kernel_id: K, ramdisk_id: R };
    },
  } as unknown as GlanceClient;
  return { use: new RebuildInstance(config, nodes, spawner, notifications, glance), asked, spawned };
}

/** What Nova's 6.1 rebuild carries that matters here: the new image_ref, the RequestSpec's Flavor. */
const novaArgs = (more: Partial<RebuildInstanceArgs> = {}): RebuildInstanceArgs =>
  ({
    instance: { 'nova_object.name': 'Instance', 'nova_object.data': { uuid: INSTANCE, image_ref: OLD } },
    image_ref: NEW,
    orig_image_ref: OLD,
    preserve_ephemeral: true,
    recreate: false,
    request_spec: {
      'nova_object.name': 'RequestSpec',
      'nova_object.data': {
        flavor: {
          'nova_object.name': 'Flavor',
          'nova_object.data': {
            root_gb: 2,
            ephemeral_gb: 1,
            swap: 64,
            extra_specs: { 'baremetal:deploy_kernel_id': DK, 'baremetal:deploy_ramdisk_id': DR },
          },
        },
      },
    },
    ...more,
  }) as RebuildInstanceArgs;

describe('RebuildInstance (rebuild_instance as Nova 6.x sends it)', () => {
  it("reads image_ref from the image service; the RequestSpec's flavor gives the deploy pair and the disk", async () => {
    const r = rebuild();
    await r.use.run(novaArgs());
    expect(r.asked).toEqual([NEW]);
    expect(r.spawned).toEqual([
      {
        request: {
          instanceUuid: INSTANCE,
          instanceName: `instance-${INSTANCE}`,
          imageId: NEW,
          images: { kernel: K, ramdisk: R, deploy_kernel: DK, deploy_ramdisk: DR },
          disk: { root_mb: 2048, swap_mb: 64, ephemeral_mb: 1024 },
        },
        preserve: true,
      },
    ]);
  });

  it('an evacuation (recreate) is refused before anything is asked or touched', async () => {
    const r = rebuild();
    await expect(r.use.run(novaArgs({ recreate: true }))).rejects.toMatchObject({
      name: 'InstanceEvacuateNotSupported',
      message: 'Instance evacuate is not supported.',
    });
    expect([r.asked, r.spawned]).toEqual([[], []]);
  });
});
