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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BmConfig } from '@bm/config';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { RackFeed, RackStreams } from '@bm/rack';
import { BM_CONFIG } from '@bm/service';
import { RackController } from './rack.controller';
import { RackPage } from './rack-page';

/**
 * The rack view runs as its own Nest HTTP application on `[rack] listen_address:port` (the
 * service's main application serves /healthz on the health port), sharing the service's feed
 * and repositories. On stop, the open event streams end first, so that the server can close.
 */
@Injectable()
export class RackHttpServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('rack-http');
  private app?: INestApplication;
  private readonly streams: RackStreams;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly feed: RackFeed,
    private readonly page: RackPage,
    private readonly nodes: NodeRepository,
    private readonly events: NodeEventRepository,
  ) {
    this.streams = new RackStreams(feed);
  }

  /** The bound port (after bootstrap). */
  get port(): number | undefined {
    return (this.app?.getHttpServer().address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    @Module({
      controllers: [RackController],
      providers: [
        { provide: RackFeed, useValue: this.feed },
        { provide: RackStreams, useValue: this.streams },
        { provide: RackPage, useValue: this.page },
        { provide: NodeRepository, useValue: this.nodes },
        { provide: NodeEventRepository, useValue: this.events },
      ],
    })
    class RackHttpModule {}
    const { listen_address: address, port } = this.config.rack;
    const app = await NestFactory.create(RackHttpModule, {
      bodyParser: false,
      // The same levels as the service's (Nest sets them process-wide).
      logger: this.config.default.debug ? ['debug', 'log', 'warn', 'error'] : ['log', 'warn', 'error'],
    });
    const express = app.getHttpAdapter().getInstance() as {
      disable(setting: string): void;
      use(fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): void;
    };
    express.disable('x-powered-by');
    express.use((_req, res, next) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('X-Frame-Options', 'DENY');
      next();
    });
    await app.listen(port, address);
    this.app = app;
    this.log.log(`rack view on http://${address}:${this.port}/`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    // Open event streams would keep the server from closing.
    this.streams.closeAll();
    await app?.close();
  }
}
