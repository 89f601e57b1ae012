import { GlanceClient, type GlanceImageCreate } from '@bm/images';
import { freeTcpPort } from './ports';
import { type ServiceProcess, type ServiceSite, serviceEnv, startService } from './service';

/** What a boot needs from the image service: the instance image and its kernel/ramdisk, the deploy pair. */
export interface BootImageIds {
  image: string;
  kernel: string;
  ramdisk: string;
  deploy_kernel: string;
  deploy_ramdisk: string;
}

/** The data of each image (default: a short text naming it). */
export type BootImageData = Partial<Record<keyof BootImageIds, Buffer | string>>;

/** The built images service of a test site. */
export interface ImagesService {
  /** http://127.0.0.1:<port>: give it to the other services as BM_API_SERVERS. */
  url: string;
  port: number;
  glance: GlanceClient;
  service: ServiceProcess;
  /** `{ BM_API_SERVERS: url }`: where compute, netboot, the deploy helper and bmctl find the images. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The images service with the five images of a boot uploaded. */
export interface TestImages extends ImagesService {
  ids: BootImageIds;
  /** Nova's image meta of the instance image (id, properties kernel_id / ramdisk_id). */
  meta(): { id: string; properties: { kernel_id: string; ramdisk_id: string } };
}

const FORMATS: Record<keyof BootImageIds, [disk: string, container: string]> = {
  image: ['raw', 'bare'],
  kernel: ['aki', 'aki'],
  ramdisk: ['ari', 'ari'],
  deploy_kernel: ['aki', 'aki'],
  deploy_ramdisk: ['ari', 'ari'],
};

/** Creates one image and uploads its data; returns its id. */
export async function uploadImage(glance: GlanceClient, fields: GlanceImageCreate, data: Buffer | string) {
  const image = await glance.create(fields);
  await glance.upload(image.id, Buffer.from(data));
  return image.id;
}

/** Starts the images service (apps/images, built) on the site's database, its data under `dataDir`. */
export async function startImages(site: ServiceSite, dataDir: string): Promise<ImagesService> {
  const port = await freeTcpPort();
  const service = startService('images', await serviceEnv(site, { BM_API_PORT: String(port), BM_DATA_DIR: dataDir }));
  try {
    await service.waitFor('images API (Glance v2) on');
  } catch (e) {
    await service.stop();
    throw e;
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    glance: new GlanceClient(url),
    service,
    env: { BM_API_SERVERS: url },
    stop: async () => {
      const code = await service.stop();
      if (code !== 0 && code !== null) throw new Error(`images exited ${code}:\n${service.output()}`);
    },
  };
}

/**
 * startImages, then the five images of a boot uploaded, the instance image last with its
 * kernel_id and ramdisk_id, as an operator does with `glance image-create`.
 */
export async function startTestImages(
  site: ServiceSite,
  dataDir: string,
  data: BootImageData = {},
): Promise<TestImages> {
  const images = await startImages(site, dataDir);
  const ids = {} as BootImageIds;
  const upload = (key: keyof BootImageIds, extra: Record<string, string> = {}) =>
    uploadImage(
      images.glance,
      { name: `test-${key}`, disk_format: FORMATS[key][0], container_format: FORMATS[key][1], ...extra },
      data[key] ?? `bytes of ${key}`,
    );
  for (const key of ['kernel', 'ramdisk', 'deploy_kernel', 'deploy_ramdisk'] as const) ids[key] = await upload(key);
  ids.image = await upload('image', { kernel_id: ids.kernel, ramdisk_id: ids.ramdisk });
  return {
    ...images,
    ids,
    meta: () => ({ id: ids.image, properties: { kernel_id: ids.kernel, ramdisk_id: ids.ramdisk } }),
  };
}
