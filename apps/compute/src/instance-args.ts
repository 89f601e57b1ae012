import { isAbsolute } from 'node:path';
import type { BootImages } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { type FieldProblem, InvalidParameterValue, UUID_PATTERN, unwrapObject } from '@bm/domain';

/** What compute needs from Nova's instance (plain dict or versioned-object primitive). */
export interface InstanceRef {
  uuid: string;
  name: string;
  /** The instance's fields as sent (the primitive's data), for the notification payloads. */
  fields: Record<string, unknown>;
}

/** Nova's instance argument → its uuid, name (hostname, display_name or name) and fields. */
export function instanceRef(raw: Record<string, unknown>): InstanceRef {
  const data = unwrapObject(raw) as Record<string, unknown>;
  const uuid = data.uuid;
  if (typeof uuid !== 'string' || !UUID_PATTERN.test(uuid))
    throw new InvalidParameterValue([{ field: 'instance.uuid', message: 'must be a UUID' }], 'Invalid instance');
  const name =
    [data.hostname, data.display_name, data.name].find((v): v is string => typeof v === 'string' && v.length > 0) ??
    `instance-${uuid}`;
  return { uuid, name, fields: data };
}

/**
 * The `image` argument → the four boot images, absolute paths on this host; the deploy pair
 * defaults to `[baremetal] deploy_kernel` / `deploy_ramdisk`. Every missing one is named.
 */
export function bootImages(image: Record<string, unknown>, config: BmConfig): BootImages {
  const pick = (k: keyof BootImages, fallback?: string) => {
    const v = image[k] ?? fallback;
    return typeof v === 'string' && isAbsolute(v) ? v : undefined;
  };
  const images = {
    kernel: pick('kernel'),
    ramdisk: pick('ramdisk'),
    deploy_kernel: pick('deploy_kernel', config.baremetal.deploy_kernel),
    deploy_ramdisk: pick('deploy_ramdisk', config.baremetal.deploy_ramdisk),
  };
  const problems: FieldProblem[] = Object.entries(images)
    .filter(([, v]) => v === undefined)
    .map(([k]) => ({ field: `image.${k}`, message: 'must be an absolute path on the compute host' }));
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid image');
  return images as BootImages;
}
