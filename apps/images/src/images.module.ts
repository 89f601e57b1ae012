import { Module } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { ImageRepository } from '@bm/db';
import { BM_CONFIG } from '@bm/service';
import { GlanceApiServer } from './glance-api.server';
import { ImageStore } from './image-store';
import { ImagesService } from './images.service';

/** The image service: metadata in nova_bm (`images`), data in `[images] data_dir`, the Glance v2 API. */
@Module({
  providers: [
    {
      provide: ImagesService,
      inject: [ImageRepository, BM_CONFIG],
      useFactory: (repo: ImageRepository, config: BmConfig) =>
        new ImagesService(repo, new ImageStore(config.images.data_dir)),
    },
    GlanceApiServer,
  ],
})
export class ImagesModule {}
