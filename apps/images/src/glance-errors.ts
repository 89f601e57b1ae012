import { STATUS_CODES, type ServerResponse } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { NovaBmError } from '@bm/core';
import { ImageExists, ImageMarkerNotFound, ImageNotFound, ImageProtected, ImageStatusConflict } from '@bm/db';

/** An answer of the Glance API with an error status and a message for the client. */
export class GlanceHttpError extends NovaBmError {
  readonly name = 'GlanceHttpError';
  readonly kind;

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.kind = status === 404 ? ('not_found' as const) : status === 409 ? ('conflict' as const) : ('invalid' as const);
  }

  static badRequest(message: string): GlanceHttpError {
    return new GlanceHttpError(400, message);
  }

  static forbidden(message: string): GlanceHttpError {
    return new GlanceHttpError(403, message);
  }

  static notFound(message: string): GlanceHttpError {
    return new GlanceHttpError(404, message);
  }

  static conflict(message: string): GlanceHttpError {
    return new GlanceHttpError(409, message);
  }
}

/** The HTTP status and message of an error raised while serving a request. */
export function httpErrorOf(e: unknown): { status: number; message: string } {
  if (e instanceof GlanceHttpError) return { status: e.status, message: e.message };
  if (e instanceof ImageNotFound) return { status: 404, message: e.message };
  if (e instanceof ImageProtected) return { status: 403, message: e.message };
  if (e instanceof ImageExists || e instanceof ImageStatusConflict) return { status: 409, message: e.message };
  if (e instanceof ImageMarkerNotFound) return { status: 400, message: e.message };
  if (e instanceof HttpException) return { status: e.getStatus(), message: e.message };
  return { status: 500, message: 'The server has either erred or is incapable of performing the requested operation.' };
}

/**
 * An error page as Glance's (webob's): text/html, `<h1>404 Not Found</h1>` then the message;
 * glanceclient and our GlanceClient read the text out of it.
 */
export function errorPage(status: number, message: string): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  const text = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    '<html>',
    ' <head>',
    `  <title>${title}</title>`,
    ' </head>',
    ' <body>',
    `  <h1>${title}</h1>`,
    `  ${text}<br /><br />`,
    '',
    '',
    '',
    ' </body>',
    '</html>',
  ].join('\n');
}

/** Every error of the Glance API as Glance answers it; unexpected ones are logged and are 500s. */
@Catch()
export class GlanceErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('images-api');

  catch(e: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const req = host.switchToHttp().getRequest<{ method: string; url: string }>();
    const { status, message } = httpErrorOf(e);
    if (status >= 500) this.log.error(`${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
    else this.log.warn(`${req.method} ${req.url}: ${status} ${message}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorPage(status, message);
    res.writeHead(status, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
}
