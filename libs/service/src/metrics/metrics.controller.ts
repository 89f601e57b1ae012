import type { ServerResponse } from 'node:http';
import { Controller, Get, Res } from '@nestjs/common';
import { Metrics, PROMETHEUS_CONTENT_TYPE } from './metrics';

/** GET /metrics: every metric of the process, in Prometheus's text exposition format. */
@Controller()
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  /**
   * Written straight to the response: Express would rewrite the content type of a returned
   * string (`text/plain; charset=utf-8; version=0.0.4`), and the format's own is the one to keep.
   */
  @Get('metrics')
  async scrape(@Res() res: ServerResponse): Promise<void> {
    const text = await this.metrics.exposition();
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
    res.end(text);
  }
}
