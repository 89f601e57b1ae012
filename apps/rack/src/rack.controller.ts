import {
  Controller,
  Get,
  NotFoundException,
  Param,
  Query,
  Req,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { IncomingMessage as Request, ServerResponse as Response } from 'node:http';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { type RackEvent, RackFeed, RackStreams, type RackTile, RackUnavailable, rackEventOf } from '@bm/rack';
import { RackPage } from './rack-page';
import { parseTimelineRequest } from './timeline-request';

/**
 * The rack view's HTTP surface: the page, the event stream that keeps it current, and two JSON
 * reads (every tile; one node's timeline) for the page and for scripts.
 */
@Controller()
export class RackController {
  constructor(
    private readonly page: RackPage,
    private readonly feed: RackFeed,
    private readonly streams: RackStreams,
    private readonly nodes: NodeRepository,
    private readonly events: NodeEventRepository,
  ) {}

  @Get()
  index(@Res() res: Response): void {
    res
      .writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': this.page.policy,
        'Cache-Control': 'no-cache',
        'Referrer-Policy': 'no-referrer',
      })
      .end(this.page.html);
  }

  /** No icon: an empty answer rather than a 404 in the browser's console. */
  @Get('favicon.ico')
  icon(@Res() res: Response): void {
    res.writeHead(204, { 'Cache-Control': 'max-age=86400' }).end();
  }

  /** Every live node's tile, by id. */
  @Get('api/nodes')
  async tiles(): Promise<RackTile[]> {
    try {
      return await this.feed.snapshot();
    } catch (e) {
      if (e instanceof RackUnavailable) throw new ServiceUnavailableException(`the database: ${e.message}`);
      throw e;
    }
  }

  /** The latest events of a live node's timeline (`?limit=`, default 200), oldest first. */
  @Get('api/nodes/:node/timeline')
  async timeline(@Param('node') node: string, @Query() query: Record<string, unknown>): Promise<RackEvent[]> {
    const { nodeId, limit } = parseTimelineRequest(node, query);
    if (!(await this.nodes.read(nodeId))) throw new NotFoundException(`node ${nodeId} is not enrolled`);
    return (await this.events.timeline(nodeId, { limit })).map(rackEventOf);
  }

  /** Server-sent events: a snapshot, then every change (libs/rack RackFeed). */
  @Get('events')
  stream(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.streams.serve(req, res);
  }
}
