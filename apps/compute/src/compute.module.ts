import { Module } from '@nestjs/common';
import { ComputeRpcController } from './compute-rpc.controller';
import { InstancesService } from './instances.service';
import { ResourceReporter } from './resource-reporter';

@Module({ controllers: [ComputeRpcController], providers: [ResourceReporter, InstancesService] })
export class ComputeModule {}
