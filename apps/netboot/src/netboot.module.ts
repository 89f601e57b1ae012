import { Module } from '@nestjs/common';
import { CommandRunner } from '@bm/exec';
import { DhcpService } from './dhcp.service';
import { NetbootRpcController } from './netboot-rpc.controller';
import { NetbootTimeline } from './netboot-timeline';
import { BootNetworkOfHost } from './pxe-interface';
import { TftpService } from './tftp.service';

@Module({
  controllers: [NetbootRpcController],
  providers: [CommandRunner, BootNetworkOfHost, NetbootTimeline, DhcpService, TftpService],
})
export class NetbootModule {}
