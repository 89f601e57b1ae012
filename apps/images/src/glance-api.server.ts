import type { AddressInfo } from 'node:net';
import {
  type BeforeApplicationShutdown,
  type INestApplication,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { BmConfig } from '@bm/config';
import { BM_CONFIG } from '@bm/service';
import { GlanceController } from './glance.controller';
import { ImagesService } from './images.service';

/**
 * The Glance API runs as its own Nest HTTP application on `[images] api_listen_address:api_port`
 * (the service's main application serves /healthz on the health port); it shares the service's
 * ImagesService. Bodies are not parsed by Express: uploads are streamed, JSON is read by the
 * controller.
 */
@Injectable()
export class GlanceApiServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('images-api');
  private app?: INestApplication;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly images: ImagesService,
  ) {}

  /** The bound port (after bootstrap). */
  get port(): number | undefined {
    return (this.app?.getHttpServer().address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.images.recover();
    @Module({ controllers: [GlanceController], providers: [{ provide: ImagesService, useValue: this.images }] })
    class GlanceApiModule {}
    const { api_listen_address: address, api_port: port } = this.config.images;
    const app = await NestFactory.create(GlanceApiModule, {
      bodyParser: false,
      // The same levels as the service's (Nest sets them process-wide).
      logger: this.config.default.debug ? ['debug', 'log', 'warn', 'error'] : ['log', 'warn', 'error'],
    });
    const server = app.getHttpServer();
    server.requestTimeout = 0; // uploads of many GB take long
    server.headersTimeout = 60_000;
    await app.listen(port, address);
    this.app = app;
    this.log.log(`images API (Glance v2) on http://${address}:${this.port}/ data_dir=${this.config.images.data_dir}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    await app?.close();
  }
}
