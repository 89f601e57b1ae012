import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  Res,
  UseFilters,
} from '@nestjs/common';
import type { IncomingMessage as Request, ServerResponse as Response } from 'node:http';
import { type GlanceImage, JSON_PATCH_CONTENT_TYPE, imageSchema, imagesSchema } from '@bm/images';
import { parseCreate, parseListQuery, parsePatch } from './dto';
import { GlanceErrorFilter, GlanceHttpError } from './glance-errors';
import { type ImagePageView, ImagesService } from './images.service';

/** Largest JSON body (a create or a patch); Glance's own limit is near this. */
const MAX_JSON_BYTES = 256 * 1024;

/** The media type of a request, lowercased, without parameters. */
function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/** The request body as JSON; 413 when too large, 400 when malformed. */
async function readJson(req: Request): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_JSON_BYTES)
    throw new GlanceHttpError(413, `The request body is larger than ${MAX_JSON_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES)
      throw new GlanceHttpError(413, `The request body is larger than ${MAX_JSON_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw GlanceHttpError.badRequest('Malformed JSON in request body.');
  }
}

/** Glance's version document, with links on the address the client used. */
export function versionsDocument(host: string | undefined): { versions: object[] } {
  const href = `http://${host ?? '127.0.0.1:9292'}/v2/`;
  const ids = ['v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];
  return {
    versions: ids.map((id, i) => ({
      id,
      status: i === 0 ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href }],
    })),
  };
}

/** The Glance v2 API (what nova-bm and the glance CLI use), on `[images] api_port`. */
@Controller()
@UseFilters(GlanceErrorFilter)
export class GlanceController {
  constructor(@Inject(ImagesService) private readonly images: ImagesService) {}

  @Get('versions')
  versions(@Req() req: Request): { versions: object[] } {
    return versionsDocument(req.headers.host);
  }

  /** `GET /`: the same document with 300 Multiple Choices, as Glance. */
  @Get()
  @HttpCode(300)
  root(@Req() req: Request): { versions: object[] } {
    return versionsDocument(req.headers.host);
  }

  @Get('v2/schemas/image')
  imageSchema(): Record<string, unknown> {
    return imageSchema();
  }

  @Get('v2/schemas/images')
  imagesSchema(): Record<string, unknown> {
    return imagesSchema();
  }

  @Post('v2/images')
  @HttpCode(201)
  async create(@Req() req: Request): Promise<GlanceImage> {
    const type = mediaType(req);
    if (type !== '' && type !== 'application/json')
      throw new GlanceHttpError(415, `Unsupported Content-Type ${type}: send application/json`);
    return this.images.create(parseCreate(await readJson(req)));
  }

  @Get('v2/images')
  list(@Query() query: Record<string, unknown>): Promise<ImagePageView> {
    return this.images.list(parseListQuery(query));
  }

  @Get('v2/images/:id')
  show(@Param('id') id: string): Promise<GlanceImage> {
    return this.images.show(id);
  }

  @Patch('v2/images/:id')
  async patch(@Param('id') id: string, @Req() req: Request): Promise<GlanceImage> {
    if (mediaType(req) !== JSON_PATCH_CONTENT_TYPE)
      throw new GlanceHttpError(415, `Unsupported Content-Type: send ${JSON_PATCH_CONTENT_TYPE}`);
    return this.images.patch(id, parsePatch(await readJson(req)));
  }

  @Delete('v2/images/:id')
  @HttpCode(204)
  async delete(@Param('id') id: string): Promise<void> {
    await this.images.delete(id);
  }

  @Put('v2/images/:id/file')
  @HttpCode(204)
  async upload(@Param('id') id: string, @Req() req: Request): Promise<void> {
    const type = mediaType(req);
    if (type !== 'application/octet-stream')
      throw new GlanceHttpError(415, `Unsupported Content-Type ${type || '(none)'}: send application/octet-stream`);
    await this.images.upload(id, req);
  }

  @Get('v2/images/:id/file')
  async download(@Param('id') id: string, @Res() res: Response): Promise<void> {
    const data = await this.images.download(id);
    if (!data) {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(data.size),
      ...(data.checksum ? { 'Content-MD5': data.checksum } : {}),
    });
    data.stream.on('error', () => res.destroy());
    data.stream.pipe(res);
  }
}
