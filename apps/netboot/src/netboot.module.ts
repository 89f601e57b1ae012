import { join } from 'node:path';
import { Module } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { CommandRunner } from '@bm/exec';
import { GlanceClient, ImageCache } from '@bm/images';
import { BM_CONFIG } from '@bm/service';
import { DhcpService } from './dhcp.service';
import { NetbootRpcController } from './netboot-rpc.controller';
import { NetbootTimeline } from './netboot-timeline';
import { BootNetworkOfHost } from './pxe-interface';
import { TftpService } from './tftp.service';

/** The boot images by id: `[netboot] image_cache_dir` (default `<tftp_root>/master_images`), filled from `[glance] api_servers`. */
export function imageCacheOf(config: BmConfig, glance: GlanceClient): ImageCache {
  return new ImageCache(config.netboot.image_cache_dir || join(config.baremetal.tftp_root, 'master_images'), glance);
}

@Module({
  controllers: [NetbootRpcController],
  providers: [
    CommandRunner,
    BootNetworkOfHost,
    NetbootTimeline,
    DhcpService,
    TftpService,
    { provide: ImageCache, inject: [BM_CONFIG, GlanceClient], useFactory: imageCacheOf },
  ],
})
export class NetbootModule {}
