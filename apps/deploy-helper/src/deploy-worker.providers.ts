import { readFileSync } from 'node:fs';
import type { Provider } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { namedError } from '@bm/core';
import { ComputeClient, NetbootClient } from '@bm/contracts';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { ImageWriter, PartitionTools, Partitioner } from '@bm/disk';
import { CommandRunner } from '@bm/exec';
import { GlanceClient } from '@bm/images';
import { type ChapCredentials, type IscsiAttacher, chooseAttacher } from '@bm/iscsi';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import { BM_CONFIG, Metrics } from '@bm/service';
import { DeployNode } from './deploy-node';
import { DeployWorker } from './deploy-worker';

/**
 * The deploy worker's providers: DeployNode on the real programs (sfdisk, qemu-img, mkswap,
 * mke2fs, blkid, the iSCSI attacher of `[deploy_helper] iscsi_attacher`), the image service `[glance] api_servers[0]`,
 * this host's netboot and compute; DeployWorker with `[deploy_helper] deploy_workers` (0: it
 * consumes nothing).
 */
/** The CHAP options are incomplete or the secret cannot be read: the service does not start. */
export class InvalidChapSettings extends namedError('InvalidChapSettings', 'config') {}

/** `[deploy_helper] iscsi_chap_user` with the secret read from `iscsi_chap_password_file`; both or neither. */
export function chapOf(o: BmConfig['deploy_helper']): ChapCredentials | undefined {
  if (!o.iscsi_chap_user && !o.iscsi_chap_password_file) return undefined;
  if (!o.iscsi_chap_user || !o.iscsi_chap_password_file)
    throw new InvalidChapSettings('[deploy_helper] iscsi_chap_user and iscsi_chap_password_file go together');
  let password: string;
  try {
    password = readFileSync(o.iscsi_chap_password_file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new InvalidChapSettings(`[deploy_helper] iscsi_chap_password_file: ${(e as Error).message}`);
  }
  if (!password)
    throw new InvalidChapSettings(`[deploy_helper] iscsi_chap_password_file ${o.iscsi_chap_password_file} is empty`);
  return { user: o.iscsi_chap_user, password };
}

export function deployWorkerProviders(): Provider[] {
  return [
    {
      provide: DeployNode,
      inject: [BM_CONFIG, NodeRepository, NodeEventRepository, NetbootClient, ComputeClient, GlanceClient, Metrics],
      useFactory: (
        config: BmConfig,
        nodes: NodeRepository,
        events: NodeEventRepository,
        netboot: NetbootClient,
        compute: ComputeClient,
        glance: GlanceClient,
        metrics: Metrics,
      ) => {
        const runner = new CommandRunner();
        const chap = chapOf(config.deploy_helper);
        let attacher: Promise<IscsiAttacher> | undefined;
        return new DeployNode(
          {
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
            observer: metrics.deploy,
          },
          chap ? { chap } : {},
        );
      },
    },
    {
      provide: DeployWorker,
      inject: [BM_CONFIG, AMQP_CONNECTION, DeployNode],
      useFactory: (config: BmConfig, conn: AmqpConnection, deploy: DeployNode) =>
        new DeployWorker(conn, deploy, {
          prefetch: config.deploy_helper.deploy_workers,
          queue: config.deploy_helper.job_queue,
          // 0 means no limit, as oslo.service's graceful_shutdown_timeout.
          stopTimeoutMs:
            config.default.graceful_shutdown_timeout === 0
              ? Number.POSITIVE_INFINITY
              : config.default.graceful_shutdown_timeout * 1000,
        }),
    },
  ];
}
