import { Module } from '@nestjs/common';
import { CommandRunner } from '@bm/exec';
import { DhcpService } from './dhcp.service';
import { NetbootRpcController } from './netboot-rpc.controller';
import { TftpService } from './tftp.service';

@Module({ controllers: [NetbootRpcController], providers: [CommandRunner, DhcpService, TftpService] })
export class NetbootModule {}
