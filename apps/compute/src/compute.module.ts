import { Module } from '@nestjs/common';
import { ComputeRpcController } from './compute-rpc.controller';

@Module({ controllers: [ComputeRpcController] })
export class ComputeModule {}
