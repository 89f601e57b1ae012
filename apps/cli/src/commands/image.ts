import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { CONTAINER_FORMATS, DISK_FORMATS, GlanceClient, type GlanceImage, extraProperties } from '@bm/images';
import { CliError } from '../errors';
import { table } from '../output';
import { type CliSession, integer } from '../session';

function property(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('must be KEY=VALUE');
  return { ...previous, [v.slice(0, i)]: v.slice(i + 1) };
}

function choice(allowed: readonly string[]) {
  return (v: string): string => {
    if (!allowed.includes(v)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return v;
  };
}

const mib = (n: number) => (n / 1048576).toFixed(1);

/** Streams `file` to the image, a progress line on stderr at every tenth and at the end. */
async function uploadFile(s: CliSession, client: GlanceClient, id: string, file: string): Promise<void> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new CliError(`${file} is not a regular file`, 'failed');
    size = st.size;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${file}: ${(e as { code?: string }).code ?? (e as Error).message}`, 'failed');
  }
  let shown = -1;
  const started = Date.now();
  await client.upload(id, createReadStream(file), {
    size,
    onProgress: (sent) => {
      const tenth = size === 0 ? 10 : Math.floor((sent * 10) / size);
      if (tenth === shown || tenth >= 10) return;
      shown = tenth;
      s.env.io.err(`uploading ${file}: ${tenth * 10}% (${mib(sent)} of ${mib(size)} MiB)`);
    },
  });
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  s.env.io.err(`uploaded ${file}: 100% (${mib(size)} MiB in ${seconds.toFixed(1)} s)`);
}

function showImage(s: CliSession, image: GlanceImage): void {
  const rows = Object.entries(image)
    .filter(([k]) => !['self', 'file', 'schema'].includes(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v]);
  s.print(image, () => table(['Property', 'Value'], rows));
}

interface CreateOptions {
  diskFormat: string;
  containerFormat: string;
  visibility?: string;
  property: Record<string, string>;
  file?: string;
}

interface ListOptions {
  name?: string;
  status?: string;
  diskFormat?: string;
  pageSize?: number;
}

/** `bmctl image …`: the image service through the Glance v2 API (glance image-*). */
export function imageCommands(program: Command, session: CliSession): void {
  const image = program
    .command('image')
    .description('images of the image service (glance image-*), at [glance] api_servers');
  image
    .command('create')
    .description('create an image; with --file, upload its data too (progress on stderr)')
    .argument('<name>', 'image name')
    .requiredOption('--disk-format <format>', DISK_FORMATS.join('|'), choice(DISK_FORMATS))
    .requiredOption('--container-format <format>', CONTAINER_FORMATS.join('|'), choice(CONTAINER_FORMATS))
    .option('--visibility <v>', 'public|private|shared|community', choice(['public', 'private', 'shared', 'community']))
    .option('--property <key=value>', 'an extra property, e.g. kernel_id=… (repeatable)', property, {})
    .option('--file <path>', 'the image data')
    .action(async (name: string, o: CreateOptions, cmd: Command) => {
      const s = session.for(cmd);
      const client = s.glance();
      const created = await client.create({
        ...o.property,
        name,
        disk_format: o.diskFormat,
        container_format: o.containerFormat,
        ...(o.visibility ? { visibility: o.visibility } : {}),
      });
      if (o.file !== undefined) {
        try {
          await uploadFile(s, client, created.id, o.file);
        } catch (e) {
          s.env.io.err(`image ${created.id} was created but its upload failed; it stays queued`);
          throw e;
        }
      }
      showImage(s, o.file !== undefined ? await client.show(created.id) : created);
    });
  image
    .command('upload')
    .description("upload an image's data (progress on stderr)")
    .argument('<id>', 'image id')
    .argument('<file>', 'the image data')
    .action(async (id: string, file: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const client = s.glance();
      await uploadFile(s, client, id, file);
      showImage(s, await client.show(id));
    });
  image
    .command('list')
    .description('list images (every page)')
    .option('--name <name>', 'only images of this name')
    .option('--status <status>', 'only images in this status (queued, saving, active)')
    .option('--disk-format <format>', 'only images of this disk format')
    .option('--page-size <n>', 'images per request', integer)
    .action(async (o: ListOptions, cmd: Command) => {
      const s = session.for(cmd);
      const list = await s.glance().listAll({
        name: o.name,
        status: o.status,
        disk_format: o.diskFormat,
        limit: o.pageSize,
        sort_key: 'name',
        sort_dir: 'asc',
      });
      s.print(list, () =>
        table(
          ['ID', 'Name', 'Disk format', 'Container format', 'Size', 'Status', 'Properties'],
          list.map((i) => [
            i.id,
            i.name,
            i.disk_format,
            i.container_format,
            i.size,
            i.status,
            Object.entries(extraProperties(i))
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(', '),
          ]),
        ),
      );
    });
  image
    .command('show')
    .description("an image's metadata")
    .argument('<image>', 'image id or name')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      showImage(s, await s.glance().find(id));
    });
  image
    .command('delete')
    .description('delete images and their data')
    .argument('<id...>', 'image ids')
    .action(async (ids: string[], _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const client = s.glance();
      for (const id of ids) {
        await client.delete(id);
        s.env.io.out(`deleted image ${id}`);
      }
    });
}
