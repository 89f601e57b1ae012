import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isAbsolute } from 'node:path';
import type { DataSource } from 'typeorm';
import type { BmConfig } from '@bm/config';
import { type FieldProblem, InvalidParameterValue, deployTimeoutWarning } from '@bm/domain';
import { Notifier, RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { RpcSpawnServices, SqlSpawnNodes } from './spawn-adapters';
import { type SpawnImages, type SpawnNode, Spawner } from './spawn';
import { ResourceReporter } from './resource-reporter';

/** What run_instance needs from Nova's instance (plain dict or versioned-object primitive). */
export interface InstanceRef {
  uuid: string;
  name: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function instanceRef(raw: Record<string, unknown>): InstanceRef {
  const data = (raw['nova_object.data'] as Record<string, unknown> | undefined) ?? raw;
  const uuid = data.uuid;
  if (typeof uuid !== 'string' || !UUID.test(uuid)) throw new InvalidParameterValue([{ field: 'instance.uuid', message: 'must be a UUID' }], 'Invalid instance');
  const name = [data.hostname, data.display_name, data.name].find((v): v is string => typeof v === 'string' && v.length > 0) ?? `instance-${uuid}`;
  return { uuid, name };
}

export function spawnImages(image: Record<string, unknown>, config: BmConfig): SpawnImages {
  const pick = (k: keyof SpawnImages, fallback?: string) => {
    const v = image[k] ?? fallback;
    return typeof v === 'string' && isAbsolute(v) ? v : undefined;
  };
  const images = {
    kernel: pick('kernel'),
    ramdisk: pick('ramdisk'),
    deploy_kernel: pick('deploy_kernel', config.baremetal.deploy_kernel),
    deploy_ramdisk: pick('deploy_ramdisk', config.baremetal.deploy_ramdisk),
  };
  const problems: FieldProblem[] = Object.entries(images).filter(([, v]) => v === undefined).map(([k]) => ({ field: `image.${k}`, message: 'must be an absolute path on the compute host' }));
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid image');
  return images as SpawnImages;
}

/**
 * The instance side of the BareMetalDriver: spawn (run_instance). Each spawn announces itself
 * with Nova's legacy notifications compute.instance.create.{start,end,error}.
 */
@Injectable()
export class InstancesService implements OnApplicationBootstrap {
  private readonly log = new Logger('instances');
  private readonly spawner: Spawner;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @InjectDataSource() ds: DataSource,
    rpc: RpcClient,
    private readonly notifier: Notifier,
    private readonly resources: ResourceReporter,
  ) {
    const host = config.default.host;
    this.spawner = new Spawner(new SqlSpawnNodes(ds, host), new RpcSpawnServices(rpc, host, config.default.rpc_response_timeout), {
      deployTimeoutS: config.baremetal.pxe_deploy_timeout,
      log: (m) => this.log.log(m),
    });
  }

  onApplicationBootstrap(): void {
    const warning = deployTimeoutWarning(this.config.baremetal.pxe_deploy_timeout);
    if (warning) this.log.warn(warning);
  }

  async spawn(instance: InstanceRef, nodeUuid: string, images: SpawnImages): Promise<SpawnNode> {
    const payload = (extra: Record<string, unknown> = {}) => ({
      instance_id: instance.uuid, display_name: instance.name, host: this.config.default.host, node: nodeUuid, ...extra,
    });
    await this.notifier.info('compute.instance.create.start', payload({ state: 'building' }));
    try {
      const node = await this.spawner.spawn({ instanceUuid: instance.uuid, instanceName: instance.name, nodeUuid, images });
      await this.notifier.info('compute.instance.create.end', payload({ state: 'active', message: 'Success' }));
      return node;
    } catch (e) {
      await this.notifier.error('compute.instance.create.error', payload({ state: 'error', message: (e as Error).message, exception: (e as Error).name }));
      throw e;
    } finally {
      void this.resources.report('instance changed');
    }
  }
}
