/**
 * The rack's event stream over HTTP (`GET /events`, `text/event-stream`): each connection is
 * subscribed to the feed and gets its messages as server-sent events, a keep-alive comment when
 * idle, and is cut (the browser reconnects and starts from a new snapshot) when it cannot keep
 * up. A bounded number of streams at once; all of them end when the service stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RackFeed, RackMessage } from './rack-feed';
import { SSE_KEEPALIVE, sseFrame } from './sse';

export interface RackStreamsOptions {
  /** Streams open at once at most; one more is answered 503 (default 64). */
  maxStreams?: number;
  /** Bytes a slow client may have waiting in its socket's buffer before it is cut (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Milliseconds between keep-alive comments (default 15000). */
  keepAliveMs?: number;
  /** The browser's reconnection delay after a cut, in milliseconds (default 2000). */
  retryMs?: number;
}

export class RackStreams {
  private readonly open = new Set<ServerResponse>();
  private closing = false;
  private readonly maxStreams: number;
  private readonly maxBuffered: number;
  private readonly keepAliveMs: number;
  private readonly retryMs: number;

  constructor(
    private readonly feed: RackFeed,
    o: RackStreamsOptions = {},
  ) {
    this.maxStreams = o.maxStreams ?? 64;
    this.maxBuffered = o.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.keepAliveMs = o.keepAliveMs ?? 15_000;
    this.retryMs = o.retryMs ?? 2000;
  }

  /** Streams open now. */
  get count(): number {
    return this.open.size;
  }

  /** Serves one `GET /events` until the client goes away or `closeAll`. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closing || this.open.size >= this.maxStreams) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' });
      res.end(this.closing ? 'stopping\n' : `too many event streams (at most ${this.maxStreams})\n`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // A proxy (nginx) must pass each event on at once.
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    this.open.add(res);
    let unsubscribe: (() => void) | undefined;
    const keepAlive = setInterval(() => write(SSE_KEEPALIVE), this.keepAliveMs);
    const end = () => {
      clearInterval(keepAlive);
      unsubscribe?.();
      unsubscribe = undefined;
      this.open.delete(res);
      if (!res.writableEnded) res.end();
    };
    const write = (text: string) => {
      if (res.writableEnded || res.destroyed) return;
      // A client that does not read: cut it rather than hold its backlog (it will reconnect).
      if (res.writableLength > this.maxBuffered) {
        res.destroy();
        return;
      }
      res.write(text);
    };
    req.on('close', end);
    res.on('close', end);
    // The browser's reconnection delay; a frame without data dispatches no event.
    write(`retry: ${this.retryMs}\n\n`);
    const subscribed = await this.feed.subscribe((m: RackMessage) => write(sseFrame({ event: m.type, data: m })));
    // The client may have left while the snapshot was read.
    if (this.open.has(res)) unsubscribe = subscribed;
    else subscribed();
  }

  /** Ends every stream (the service is stopping); later requests get 503. */
  closeAll(): void {
    this.closing = true;
    for (const res of [...this.open]) res.end();
  }
}
