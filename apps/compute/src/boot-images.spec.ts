import { loadConfigFromText } from '@bm/config';
import { InvalidParameterValue, MissingBootImages } from '@bm/domain';
import { resolveSpawnImages } from './boot-images';

const IMAGE = '1e000000-0000-4000-8000-000000000001';
const K = '1a000000-0000-4000-8000-00000000000a';
const R = '1b000000-0000-4000-8000-00000000000b';
const DK = '1c000000-0000-4000-8000-00000000000c';
const DR = '1d000000-0000-4000-8000-00000000000d';
const FLAVOR_DK = '2c000000-0000-4000-8000-00000000000c';
const FLAVOR_DR = '2d000000-0000-4000-8000-00000000000d';

const configured = loadConfigFromText(`[baremetal]\ndeploy_kernel = ${DK}\ndeploy_ramdisk = ${DR}\n`, { env: {} });
const bare = loadConfigFromText('', { env: {} });
const noLookup = () => Promise.reject(new Error('the image service should not be asked'));

describe('resolveSpawnImages (the seed get_tftp_image_info, by id)', () => {
  it("Nova's image meta: kernel/ramdisk from its properties, the deploy pair from [baremetal]", async () => {
    const r = await resolveSpawnImages(
      { image: { id: IMAGE, properties: { kernel_id: K, ramdisk_id: R } }, instance: {} },
      configured,
      noLookup,
    );
    expect(r).toEqual({ imageId: IMAGE, boot: { kernel: K, ramdisk: R, deploy_kernel: DK, deploy_ramdisk: DR } });
  });

  it("the flavor's baremetal:deploy_*_id extra specs win over the configured pair", async () => {
    const flavor = {
      extra_specs: { 'baremetal:deploy_kernel_id': FLAVOR_DK, 'baremetal:deploy_ramdisk_id': FLAVOR_DR },
    };
    const r = await resolveSpawnImages(
      { image: { id: IMAGE, properties: { kernel_id: K, ramdisk_id: R } }, instance: {}, flavor },
      configured,
      noLookup,
    );
    expect(r.boot).toMatchObject({ deploy_kernel: FLAVOR_DK, deploy_ramdisk: FLAVOR_DR });
    // …and the instance's own flavor (a Nova Flavor primitive) is read when none is sent.
    const primitive = { 'nova_object.name': 'Flavor', 'nova_object.data': flavor };
    const fromInstance = await resolveSpawnImages(
      { image: { id: IMAGE, properties: { kernel_id: K, ramdisk_id: R } }, instance: { flavor: primitive } },
      configured,
      noLookup,
    );
    expect(fromInstance.boot.deploy_kernel).toBe(FLAVOR_DK);
  });

  it("the instance's own kernel_id/ramdisk_id come first (Nova copies them from the image at boot)", async () => {
    const other = '3a000000-0000-4000-8000-00000000000a';
    const r = await resolveSpawnImages(
      { image: { id: IMAGE, properties: { kernel_id: other, ramdisk_id: R } }, instance: { kernel_id: K } },
      configured,
      noLookup,
    );
    expect(r.boot).toMatchObject({ kernel: K, ramdisk: R });
  });

  it("the instance's system_metadata image_kernel_id / image_ramdisk_id before the image service", async () => {
    const r = await resolveSpawnImages(
      { image_ref: IMAGE, instance: { kernel_id: '', system_metadata: { image_kernel_id: K, image_ramdisk_id: R } } },
      configured,
      noLookup,
    );
    expect(r.boot).toMatchObject({ kernel: K, ramdisk: R });
  });

  it('only an image_ref: the properties are read from the image service (Glance v2: top level)', async () => {
    const asked: string[] = [];
    const r = await resolveSpawnImages({ image_ref: IMAGE, instance: {} }, configured, async (id) => {
      asked.push(id);
      return { id, kernel_id: K, ramdisk_id: R };
    });
    expect(asked).toEqual([IMAGE]);
    expect(r).toMatchObject({ imageId: IMAGE, boot: { kernel: K, ramdisk: R } });
    // The instance's image_ref is the last resort for the image id.
    const fromInstance = await resolveSpawnImages({ instance: { image_ref: IMAGE } }, configured, async () => ({
      kernel_id: K,
      ramdisk_id: R,
    }));
    expect(fromInstance.imageId).toBe(IMAGE);
  });

  it("a missing one fails with the seed's message naming every missing label", async () => {
    const err = await resolveSpawnImages({ image: { id: IMAGE }, instance: {} }, bare, async () => ({})).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MissingBootImages);
    expect((err as Error).name).toBe('NovaException');
    expect((err as Error).message).toBe(
      'Can not activate PXE bootloader. The following boot parameters were not passed to baremetal driver: ' +
        "['kernel', 'ramdisk', 'deploy_kernel', 'deploy_ramdisk']",
    );
    await expect(
      resolveSpawnImages(
        { image: { id: IMAGE, properties: { kernel_id: K } }, instance: {} },
        configured,
        async () => ({}),
      ),
    ).rejects.toThrow("were not passed to baremetal driver: ['ramdisk']");
  });

  it('never a path: every id must be a UUID, the instance image too', async () => {
    const err = await resolveSpawnImages(
      { image: { id: '/srv/disk.img', properties: { kernel_id: '/boot/vmlinuz', ramdisk_id: R } }, instance: {} },
      configured,
      noLookup,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParameterValue);
    expect((err as Error).message).toBe(
      'Invalid image: image.id: must be an image id (a UUID), not "/srv/disk.img"; kernel: must be an image id (a UUID), not "/boot/vmlinuz"',
    );
    await expect(
      resolveSpawnImages(
        { image: { properties: { kernel_id: K, ramdisk_id: R } }, instance: {} },
        configured,
        noLookup,
      ),
    ).rejects.toThrow('image.id: must be an image id (a UUID), not null');
  });
});
