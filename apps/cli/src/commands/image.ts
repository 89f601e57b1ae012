import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { CONTAINER_FORMATS, DISK_FORMATS, GlanceClient, type GlanceImage, extraProperties } from '@bm/images';
import { systemClock } from '@bm/core';
import { CliError } from '../errors';
import type { Column } from '../output';
import { Progress } from '../progress';
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

/**
 * Streams `file` to the image with its progress on stderr: on a terminal one line redrawn (at
 * most every 100 ms), elsewhere a line at every tenth; the last line says how long it took.
 */
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
  const progress = new Progress(s.env.io, systemClock);
  const tty = s.env.io.errIsTty === true;
  let shown = -1;
  let drawnAt = -Infinity;
  await progress.during(
    client.upload(id, createReadStream(file), {
      size,
      onProgress: (sent) => {
        const tenth = size === 0 ? 10 : Math.floor((sent * 10) / size);
        const now = systemClock.now();
        if (tenth >= 10 || (tty ? now - drawnAt < 100 : tenth === shown)) return;
        shown = tenth;
        drawnAt = now;
        const percent = tty ? Math.floor((sent * 100) / size) : tenth * 10;
        progress.update(`uploading ${file}: ${percent}% (${mib(sent)} of ${mib(size)} MiB)`);
      },
    }),
  );
  const seconds = Math.max(progress.elapsedS, 0.001);
  progress.update(`uploaded ${file}: 100% (${mib(size)} MiB in ${seconds.toFixed(1)} s)`);
}

/** An image's record as `image show` prints it: its fields by name, without the API's links. */
function showImage(s: CliSession, image: GlanceImage): void {
  s.printRecord(
    Object.fromEntries(
      Object.entries(image)
        .filter(([k]) => !['self', 'file', 'schema'].includes(k))
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
  );
}

/** The columns of `image list` (glance image-list). */
const IMAGE_COLUMNS: Column<GlanceImage>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'Name', value: (i) => i.name },
  { header: 'Disk format', value: (i) => i.disk_format },
  { header: 'Container format', value: (i) => i.container_format },
  { header: 'Size', value: (i) => i.size },
  { header: 'Status', value: (i) => i.status },
  { header: 'Properties', value: (i) => extraProperties(i) },
  { header: 'Visibility', value: (i) => i.visibility, long: true },
  { header: 'Checksum', value: (i) => i.checksum, long: true },
  { header: 'Created', value: (i) => i.created_at, long: true },
];

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
      s.printList(list, IMAGE_COLUMNS);
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
