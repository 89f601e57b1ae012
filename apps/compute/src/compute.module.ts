import { Module } from '@nestjs/common';
import { ComputeRpcController } from './compute-rpc.controller';
import { ResourceReporter } from './resource-reporter';

@Module({ controllers: [ComputeRpcController], providers: [ResourceReporter] })
export class ComputeModule {}
