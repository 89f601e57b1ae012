import { type IncomingMessage, STATUS_CODES, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { inRequest } from '@bm/core';
import {
  DEPLOY_CALLBACK_CONTENT_TYPE,
  DEPLOY_CALLBACK_REASONS,
  callbackAnswer,
  deployHelperAnswer,
} from '@bm/contracts';
import { BM_CONFIG } from '@bm/service';
import { AcceptCallback, type CallbackOutcome } from './accept-callback';

/** Where the callback listens and how much it reads. */
export interface CallbackSettings {
  listenAddress: string;
  port: number;
  maxBodyBytes: number;
}

/**
 * `[deploy_helper]` callback_listen_address, callback_port, callback_max_body_bytes (defaults
 * Nova's: every address, port 10000; and a 4 KiB body).
 */
export function callbackSettings(config: BmConfig): CallbackSettings {
  const d = config.deploy_helper;
  return { listenAddress: d.callback_listen_address, port: d.callback_port, maxBodyBytes: d.callback_max_body_bytes };
}

/** `::ffff:10.0.0.5` → `10.0.0.5`. */
function peerAddress(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/**
 * The deploy ramdisk's HTTP callback (Nova's `wsgiref` server on port 10000): any path, reads the
 * body (at most max bytes), hands it to AcceptCallback and writes its answer, text/plain, one
 * request per connection. Logs every answer. A failure inside is a 500, never a crash.
 */
@Injectable()
export class CallbackServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('deploy-callback');
  private server?: Server;
  private settings!: CallbackSettings;

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly accept: AcceptCallback,
  ) {}

  /** The bound port (after bootstrap). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.settings = callbackSettings(this.config);
    // Each callback starts a request (oslo's request_id): the deploy job and RPCs it leads to carry it.
    const server = createServer((req, res) => void inRequest(() => this.handle(req, res)));
    server.requestTimeout = 15_000;
    server.headersTimeout = 10_000;
    server.on('clientError', (_e, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.settings.port, this.settings.listenAddress, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.log.log(`deploy callback on http://${this.settings.listenAddress}:${this.port}/`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = peerAddress(req);
    const method = req.method ?? '';
    let outcome: CallbackOutcome;
    try {
      const body = method === 'POST' ? await this.readBody(req) : Buffer.alloc(0);
      if (body === undefined) {
        outcome = { ...callbackAnswer('too_large', this.settings.maxBodyBytes), note: 'body too large' };
      } else {
        const contentType = req.headers['content-type'];
        const maxBytes = this.settings.maxBodyBytes;
        outcome = await this.accept.run({ method, contentType, body, maxBytes, remoteAddress: remote });
      }
    } catch (e) {
      this.log.error(`${remote} ${method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
      outcome = { ...deployHelperAnswer('internal_error'), note: 'failed' };
    }
    this.reply(res, outcome);
    const text = outcome.body ? ` ${JSON.stringify(outcome.body)}` : '';
    const line = `${remote} ${method} ${req.url}: ${outcome.status}${text} (${outcome.note})`;
    if (outcome.status < 400) this.log.log(line);
    else this.log.warn(line);
    // Whatever is left of the body is drained; the connection closes after the answer.
    req.resume();
  }

  /** The body, or undefined once it is larger than the limit (declared or read). */
  private readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const max = this.settings.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > max) {
          req.off('data', onData);
          resolve(undefined);
          return;
        }
        chunks.push(c);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
    });
  }

  private reply(res: ServerResponse, a: CallbackOutcome): void {
    if (res.headersSent) return;
    const reason = DEPLOY_CALLBACK_REASONS[a.status] ?? STATUS_CODES[a.status] ?? '';
    res.writeHead(a.status, reason, {
      'Content-Type': DEPLOY_CALLBACK_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(a.body),
      Connection: 'close',
    });
    res.end(a.body);
  }
}
