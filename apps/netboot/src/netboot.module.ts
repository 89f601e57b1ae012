import { Module } from '@nestjs/common';
import { DhcpService } from './dhcp.service';
import { NetbootRpcController } from './netboot-rpc.controller';
import { TftpService } from './tftp.service';

@Module({ controllers: [NetbootRpcController], providers: [DhcpService, TftpService] })
export class NetbootModule {}
