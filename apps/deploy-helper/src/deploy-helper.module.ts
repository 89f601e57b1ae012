import { Module } from '@nestjs/common';
import { DeployJobs } from '@bm/contracts';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import { AcceptCallback } from './accept-callback';
import { CallbackServer } from './callback-server';

/** The deploy ramdisk's callback (port 10000) and the deploy job queue it fills. */
@Module({
  providers: [
    { provide: DeployJobs, inject: [AMQP_CONNECTION], useFactory: (c: AmqpConnection) => new DeployJobs(c) },
    AcceptCallback,
    CallbackServer,
  ],
})
export class DeployHelperModule {}
