import { Module } from '@nestjs/common';
import { NetbootRpcController } from './netboot-rpc.controller';

@Module({ controllers: [NetbootRpcController] })
export class NetbootModule {}
