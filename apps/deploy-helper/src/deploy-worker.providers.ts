import type { Provider } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { ComputeClient, NetbootClient } from '@bm/contracts';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { ImageWriter, PartitionTools, Partitioner } from '@bm/disk';
import { CommandRunner } from '@bm/exec';
import { GlanceClient } from '@bm/images';
import { type IscsiAttacher, chooseAttacher } from '@bm/iscsi';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { DeployNode } from './deploy-node';
import { DeployWorker } from './deploy-worker';

/**
 * The deploy worker's providers: DeployNode on the real programs (sfdisk, qemu-img, mkswap,
 * mke2fs, blkid, the iSCSI attacher of `[deploy_helper] iscsi_attacher`), the image service `[glance] api_servers[0]`,
 * this host's netboot and compute; DeployWorker with `[deploy_helper] deploy_workers` (0: it
 * consumes nothing).
 */
export function deployWorkerProviders(): Provider[] {
  return [
    {
      provide: DeployNode,
      inject: [BM_CONFIG, NodeRepository, NodeEventRepository, NetbootClient, ComputeClient, GlanceClient],
      useFactory: (
        config: BmConfig,
        nodes: NodeRepository,
        events: NodeEventRepository,
        netboot: NetbootClient,
        compute: ComputeClient,
        glance: GlanceClient,
      ) => {
        const runner = new CommandRunner();
        let attacher: Promise<IscsiAttacher> | undefined;
        return new DeployNode({
          nodes,
          events,
          attacher: () =>
            (attacher ??= chooseAttacher(config.deploy_helper.iscsi_attacher, runner).catch((e: unknown) => {
              attacher = undefined; // ask again next deploy
              throw e;
            })),
          glance,
          partitioner: new Partitioner(runner),
          writer: new ImageWriter(runner),
          tools: new PartitionTools(runner),
          netboot,
          compute,
        });
      },
    },
    {
      provide: DeployWorker,
      inject: [BM_CONFIG, AMQP_CONNECTION, DeployNode],
      useFactory: (config: BmConfig, conn: AmqpConnection, deploy: DeployNode) =>
        new DeployWorker(conn, deploy, { prefetch: config.deploy_helper.deploy_workers }),
    },
  ];
}
