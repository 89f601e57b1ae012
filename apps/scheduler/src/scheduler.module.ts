import { Module } from '@nestjs/common';
import { HostStates } from './host-states.service';
import { SchedulerRpcController } from './scheduler-rpc.controller';

@Module({ controllers: [SchedulerRpcController], providers: [HostStates] })
export class SchedulerModule {}
