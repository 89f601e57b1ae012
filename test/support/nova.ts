import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { GlanceImage } from '@bm/images';
import { eventually, queueConsumers } from './amqp';
import { type ScratchDatabase, createScratchDatabase } from './database';
import { runPythonJson } from './python';

const run = promisify(execFile);

/**
 * A real nova-conductor (Debian's nova-conductor, Nova Zed) for peer tests: its two databases
 * (cell and API) made in the test PostgreSQL and migrated with `nova-manage api_db sync` and
 * `db sync`, its nova.conf in a private directory (mode 0600: it holds the database URLs), one
 * worker, on the RabbitMQ vhost of `transportUrl`; ready once it consumes its `conductor` queue.
 * Placement is never reached by what the tests ask of it (`auth_type = none` only lets it start).
 */
export interface NovaConductor {
  /** Its nova.conf (database URLs, transport): for Nova code run by the test itself. */
  conf: string;
  /** Nova's cell database (instances, services, …). */
  cell: ScratchDatabase;
  /** A query on the cell database. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** What it printed. */
  output(): string;
  stop(): Promise<void>;
}

/** `postgresql://…` as SQLAlchemy names the psycopg2 driver. */
const sqlalchemyUrl = (url: string) => url.replace(/^postgres(ql)?:/, 'postgresql+psycopg2:');

export async function startNovaConductor(o: {
  transportUrl: string;
  vhost: string;
  /** Its `control_exchange` (default Nova's, `nova`): the exchange its clients call it on. */
  exchange?: string;
}): Promise<NovaConductor> {
  const dir = await mkdtemp(join(tmpdir(), 'bm-nova-'));
  const cell = await createScratchDatabase('nova_cell');
  const api = await createScratchDatabase('nova_api');
  const conf = join(dir, 'nova.conf');
  let child: ChildProcess | undefined;
  let out = '';
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
    await cell.drop();
    await api.drop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeFile(
      conf,
      [
        '[DEFAULT]',
        `transport_url = ${o.transportUrl}`,
        ...(o.exchange ? [`control_exchange = ${o.exchange}`] : []),
        `state_path = ${dir}`,
        'debug = false',
        '[database]',
        `connection = ${sqlalchemyUrl(cell.url)}`,
        '[api_database]',
        `connection = ${sqlalchemyUrl(api.url)}`,
        '[conductor]',
        'workers = 1',
        '[oslo_concurrency]',
        `lock_path = ${join(dir, 'lock')}`,
        '[placement]',
        'auth_type = none',
        'endpoint_override = http://127.0.0.1:9',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    for (const what of ['api_db', 'db'])
      await run('nova-manage', ['--config-file', conf, what, 'sync'], { timeout: 180_000 });
    child = spawn('nova-conductor', ['--config-file', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const proc = child;
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`nova-conductor exited ${proc.exitCode}:\n${out.slice(-3000)}`);
        if ((await queueConsumers(o.vhost, 'conductor')) < 1)
          throw new Error(`nova-conductor is not consuming:\n${out.slice(-3000)}`);
      },
      60_000,
      250,
    );
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    conf,
    cell,
    query: async <T>(sql: string, params: unknown[] = []) => {
      const c = new Client({ connectionString: cell.url });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows as T[];
      } finally {
        await c.end();
      }
    },
    output: () => out,
    stop: cleanup,
  };
}

/**
 * An image as Nova's glance client (v2) hands it to Nova's API, and so as Nova sends it to a
 * compute host (`image`): core attributes, the properties apart.
 */
export function novaImageMeta(img: GlanceImage): Record<string, unknown> {
  return {
    id: img.id,
    name: img.name,
    status: img.status,
    size: img.size,
    checksum: img.checksum,
    disk_format: img.disk_format,
    container_format: img.container_format,
    min_disk: img.min_disk,
    min_ram: img.min_ram,
    owner: img.owner,
    protected: img.protected,
    is_public: img.visibility === 'public',
    created_at: img.created_at,
    updated_at: img.updated_at,
    deleted: false,
    deleted_at: null,
    properties: { kernel_id: img.kernel_id, ramdisk_id: img.ramdisk_id },
  };
}

/** One operation's outcome as test/peers/nova-compute/nova_compute.py reports it. */
export interface NovaResult {
  op: string;
  ok: boolean;
  result?: unknown;
  type?: string;
  /** The Nova class the remote error was rebuilt as (oslo makes it a `<class>_Remote` subclass of it). */
  error?: { class: string; module: string; remote: boolean; message: string };
}
/** A message Nova's ComputeAPI sent (captured by nova_compute.py). */
export interface NovaSent {
  method: string;
  version: string;
  server: string;
  args: Record<string, unknown>;
  bytes: number;
}
export interface NovaRun {
  results: NovaResult[];
  sent: NovaSent[];
}

const NOVA_COMPUTE = join(__dirname, '../peers/nova-compute/nova_compute.py');

/**
 * Runs nova_compute.py (Nova's own ComputeAPI and objects, driving our compute) with `input` as
 * JSON on its stdin; killed after `timeoutMs`, its output in the error.
 */
export function novaCompute(input: Record<string, unknown>, timeoutMs = 90_000): Promise<NovaRun> {
  return runPythonJson<NovaRun>([NOVA_COMPUTE], input, { timeoutMs, label: 'nova_compute.py' });
}
