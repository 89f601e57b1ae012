/**
 * Which images a spawn uses, by image-service id, as the seed's get_tftp_image_info decides:
 *
 *   the instance image          image.id, else image_ref, else the instance's image_ref
 *   kernel / ramdisk            the instance's kernel_id / ramdisk_id, else the image's
 *                               properties (Nova's image meta: `properties`; Glance v2: top
 *                               level), else the instance's system_metadata image_kernel_id /
 *                               image_ramdisk_id (where Nova copies the image's properties),
 *                               else the image record read from the image service
 *   deploy_kernel / _ramdisk    the flavor's extra specs baremetal:deploy_kernel_id /
 *                               baremetal:deploy_ramdisk_id, else [baremetal] deploy_kernel /
 *                               deploy_ramdisk
 *
 * A missing one fails with the seed's message naming every missing label (MissingBootImages);
 * an id that is not a UUID is refused before anything is claimed. No file path is ever taken.
 */
import { type BootImages, systemMetadata } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { type FieldProblem, InvalidParameterValue, MissingBootImages, UUID_PATTERN, unwrapObject } from '@bm/domain';

export const DEPLOY_KERNEL_SPEC = 'baremetal:deploy_kernel_id';
export const DEPLOY_RAMDISK_SPEC = 'baremetal:deploy_ramdisk_id';

/** What Nova gives compute about a build's images (run_instance, build_and_run_instance, rebuild). */
export interface ImageArgs {
  /** Nova's image meta (a dict or an ImageMeta primitive), or a Glance v2 record: `id`, `properties`. */
  image?: Record<string, unknown>;
  image_ref?: unknown;
  /** The instance's fields (image_ref, kernel_id, ramdisk_id, system_metadata, flavor). */
  instance: Record<string, unknown>;
  /** The flavor as sent (instance_type, flavor, request_spec.instance_type), else the instance's. */
  flavor?: Record<string, unknown>;
}

/** The images of one spawn: the instance image (recorded in bm_nodes.image_path) and the four boot images. */
export interface SpawnImages {
  imageId: string;
  boot: BootImages;
}

/** Reads an image record's extra properties (GlanceClient.show): used only when Nova did not send them. */
export type ImageProperties = (id: string) => Promise<Record<string, unknown>>;

const record = (v: unknown): Record<string, unknown> => {
  const u = unwrapObject(v);
  return u && typeof u === 'object' && !Array.isArray(u) ? (u as Record<string, unknown>) : {};
};
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export async function resolveSpawnImages(
  a: ImageArgs,
  config: BmConfig,
  properties: ImageProperties,
): Promise<SpawnImages> {
  const image = record(a.image);
  const imageId = text(image.id) ?? text(a.image_ref) ?? text(a.instance.image_ref);
  const props = record(image.properties);
  const sm = systemMetadata(a.instance);
  let kernel = text(a.instance.kernel_id) ?? text(props.kernel_id) ?? text(image.kernel_id) ?? text(sm.image_kernel_id);
  let ramdisk =
    text(a.instance.ramdisk_id) ?? text(props.ramdisk_id) ?? text(image.ramdisk_id) ?? text(sm.image_ramdisk_id);
  if ((!kernel || !ramdisk) && imageId && UUID_PATTERN.test(imageId)) {
    const stored = await properties(imageId);
    kernel ??= text(stored.kernel_id);
    ramdisk ??= text(stored.ramdisk_id);
  }
  const specs = record(record(a.flavor ?? a.instance.flavor).extra_specs);
  const boot = {
    kernel,
    ramdisk,
    deploy_kernel: text(specs[DEPLOY_KERNEL_SPEC]) ?? text(config.baremetal.deploy_kernel),
    deploy_ramdisk: text(specs[DEPLOY_RAMDISK_SPEC]) ?? text(config.baremetal.deploy_ramdisk),
  };
  const missing = Object.entries(boot)
    .filter(([, id]) => id === undefined)
    .map(([label]) => label);
  if (missing.length) throw new MissingBootImages(missing);
  const problems: FieldProblem[] = [['image.id', imageId] as const, ...Object.entries(boot)]
    .filter(([, id]) => !id || !UUID_PATTERN.test(id))
    .map(([field, id]) => ({ field, message: `must be an image id (a UUID), not ${JSON.stringify(id ?? null)}` }));
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid image');
  return { imageId: imageId!, boot: boot as BootImages };
}
