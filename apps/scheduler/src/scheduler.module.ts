import { Module } from '@nestjs/common';
import { HostStates } from './host-states.service';
import { SchedulerRpcController } from './scheduler-rpc.controller';
import { ScheduleInstances } from './use-cases/schedule-instances';
import { SelectDestinations } from './use-cases/select-destinations';

@Module({ controllers: [SchedulerRpcController], providers: [HostStates, SelectDestinations, ScheduleInstances] })
export class SchedulerModule {}
