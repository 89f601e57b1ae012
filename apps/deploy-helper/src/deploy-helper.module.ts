import { Module } from '@nestjs/common';
import { DeployJobs } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import { BM_CONFIG, Metrics } from '@bm/service';
import { AcceptCallback } from './accept-callback';
import { CallbackServer } from './callback-server';
import { deployWorkerProviders } from './deploy-worker.providers';

/**
 * The deploy ramdisk's callback (port 10000), the deploy job queue it fills, and the deploy
 * workers that run those jobs (`[deploy_helper] deploy_workers` at once; 0 = callbacks only).
 */
@Module({
  providers: [
    {
      provide: DeployJobs,
      inject: [AMQP_CONNECTION, BM_CONFIG, Metrics],
      useFactory: (c: AmqpConnection, config: BmConfig, metrics: Metrics) => {
        const jobs = new DeployJobs(c, { queue: config.deploy_helper.job_queue });
        metrics.watchQueues(config.deploy_helper.job_queue, jobs.queue.deadQueue); // bm_queue_messages
        return jobs;
      },
    },
    AcceptCallback,
    CallbackServer,
    ...deployWorkerProviders(),
  ],
})
export class DeployHelperModule {}
