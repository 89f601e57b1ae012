import { Logger, Module } from '@nestjs/common';
import type { Clock } from '@bm/core';
import { RackRepository } from '@bm/db';
import { RackFeed } from '@bm/rack';
import { CLOCK } from '@bm/service';
import { RackHttpServer } from './rack-http.server';
import { RackPage } from './rack-page';

/** Polls while a page listens: about a second between a change in the database and the page. */
const POLL_MS = 1000;

/** The rack view: the feed over the database (libs/rack), its page and event stream (RackHttpServer). */
@Module({
  providers: [
    {
      provide: RackFeed,
      inject: [RackRepository, CLOCK],
      useFactory: (repo: RackRepository, clock: Clock) => {
        const log = new Logger('rack');
        return new RackFeed(repo, {
          clock,
          pollMs: POLL_MS,
          log: { log: (m) => log.log(m), warn: (m) => log.warn(m) },
        });
      },
    },
    { provide: RackPage, useFactory: () => RackPage.load() },
    RackHttpServer,
  ],
})
export class RackModule {}
