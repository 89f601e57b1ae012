import { createHash, randomUUID } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DataSource } from 'typeorm';
import type { ComputeClient, DeployStateChangedArgs, NetbootClient } from '@bm/contracts';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { ImageWriter, PartitionTools, Partitioner } from '@bm/disk';
import { CommandRunner } from '@bm/exec';
import { GlanceClient } from '@bm/images';
import { UserspaceAttacher, type UserspaceAttacherOptions } from '@bm/iscsi';
import { DeployNode, type DeployNodeSettings } from '../src/deploy-node';

// What the deploy-node integration test and its worker child process (deploy-worker.child.ts)
// share: a Glance v2 stand-in serving image data over HTTP (so the real GlanceClient reads and
// verifies it), and a DeployNode on the real programs with netboot and compute as callbacks.

const CHUNK = 1024 * 1024;

/** Holds a download after `afterBytes` until resume(); `reached` resolves when it stops there. */
export class DownloadPause {
  readonly reached: Promise<void>;
  private readonly gate: Promise<void>;
  private hit!: () => void;
  private open!: () => void;

  constructor(readonly afterBytes: number) {
    this.reached = new Promise((r) => (this.hit = r));
    this.gate = new Promise((r) => (this.open = r));
  }

  resume(): void {
    this.open();
  }

  /** The server's side: says the download got there, then waits for resume(). */
  async hold(): Promise<void> {
    this.hit();
    await this.gate;
  }
}

export interface PublishedImage {
  disk_format: 'raw' | 'qcow2';
  /** What the image service sends. */
  data: Buffer;
  /** What its checksums (md5, sha512) are computed over (default: `data`; another buffer makes a corrupt image). */
  checksummed?: Buffer;
  virtual_size?: number | null;
  /** The first download stops there until resumed. */
  pause?: DownloadPause;
}

/** A Glance v2 stand-in: `GET /v2/images/{id}` and `GET /v2/images/{id}/file` of the images published. */
export class FakeGlance {
  private readonly images = new Map<string, PublishedImage>();
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const m = /^\/v2\/images\/([0-9a-f-]+)(\/file)?$/.exec(req.url ?? '');
      const image = m ? this.images.get(m[1]) : undefined;
      if (!m || !image) {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"no such image"}');
        return;
      }
      if (!m[2]) {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(this.record(m[1], image)));
        return;
      }
      const pause = image.pause;
      image.pause = undefined; // only the first download stops
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': image.data.length });
      pipeline(Readable.from(chunks(image.data, pause)), res).catch(() => undefined);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Makes the image downloadable; returns its id. */
  publish(image: PublishedImage): string {
    const id = randomUUID();
    this.images.set(id, image);
    return id;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private record(id: string, i: PublishedImage): Record<string, unknown> {
    const summed = i.checksummed ?? i.data;
    return {
      id,
      name: `image-${id}`,
      status: 'active',
      visibility: 'public',
      protected: false,
      os_hidden: false,
      disk_format: i.disk_format,
      container_format: 'bare',
      size: i.data.length,
      virtual_size: i.virtual_size ?? null,
      checksum: createHash('md5').update(summed).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(summed).digest('hex'),
    };
  }
}

async function* chunks(data: Buffer, pause?: DownloadPause): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += CHUNK) {
    if (pause && at >= pause.afterBytes) {
      await pause.hold();
      pause = undefined;
    }
    yield data.subarray(at, at + CHUNK);
  }
}

export interface DeployNodeSetup {
  ds: DataSource;
  glanceUrl: string;
  /** Where the attacher's FUSE mounts and the qcow2 downloads go. */
  tmpRoot: string;
  attacher?: UserspaceAttacherOptions;
  settings?: Partial<DeployNodeSettings>;
  activateBoot(node: number, rootUuid: string): void;
  deployStateChanged(host: string, args: DeployStateChangedArgs): void;
}

/** DeployNode on PostgreSQL, the image service at `glanceUrl`, the userspace attacher and the real disk tools. */
export function realDeployNode(s: DeployNodeSetup): DeployNode {
  const runner = new CommandRunner();
  const attacher = new UserspaceAttacher(runner, { readyTimeoutMs: 15_000, tmpRoot: s.tmpRoot, ...s.attacher });
  const netboot: Pick<NetbootClient, 'activateBoot'> = {
    activateBoot: async (node, rootUuid) => {
      s.activateBoot(node, rootUuid);
      return { node: String(node), instance: '', root_uuid: rootUuid };
    },
  };
  const compute: Pick<ComputeClient, 'deployStateChanged'> = {
    deployStateChanged: async (host, args) => s.deployStateChanged(host, args),
  };
  return new DeployNode(
    {
      nodes: new NodeRepository(s.ds),
      events: new NodeEventRepository(s.ds),
      attacher: async () => attacher,
      glance: new GlanceClient(s.glanceUrl),
      partitioner: new Partitioner(runner),
      writer: new ImageWriter(runner),
      tools: new PartitionTools(runner),
      netboot,
      compute,
    },
    { doneRetryMs: 200, tmpDir: s.tmpRoot, ...s.settings },
  );
}
