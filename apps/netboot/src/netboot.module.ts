import { Module } from '@nestjs/common';
import { DhcpService } from './dhcp.service';
import { NetbootRpcController } from './netboot-rpc.controller';

@Module({ controllers: [NetbootRpcController], providers: [DhcpService] })
export class NetbootModule {}
