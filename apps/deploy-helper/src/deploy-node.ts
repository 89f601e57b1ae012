import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Logger } from '@nestjs/common';
import { withLogContext } from '@bm/core';
import { type ComputeClient, type DeployJob, type NetbootClient, deployKeySha256 } from '@bm/contracts';
import type { DeployTargetRow, NodeEventRepository, NodeRepository } from '@bm/db';
import {
  type ImageWriter,
  type PartitionLayout,
  type PartitionTools,
  type Partitioner,
  type PlannedPartition,
  partitionFor,
  partitionLayout,
} from '@bm/disk';
import {
  BmState,
  type BmTaskState,
  InstanceNotFound,
  InvalidNodeStateTransition,
  NodeNotFound,
  NodeStateChanged,
} from '@bm/domain';
import type { GlanceClient, GlanceImage } from '@bm/images';
import type { AttachedLun, ChapCredentials, IscsiAttacher } from '@bm/iscsi';

const MIB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The transition's refusals that mean "the row moved on" (destroyed, re-deployed): nothing to mark. */
const MOVED_ON = [InvalidNodeStateTransition, NodeStateChanged, InstanceNotFound, NodeNotFound];

/** Sends the deploy ramdisk its `done` (it then stops its target and reboots). */
export type DoneSender = (address: string, port: number) => Promise<void>;

/** Everything DeployNode does outside itself. */
export interface DeployPorts {
  nodes: Pick<NodeRepository, 'deployTarget' | 'transition'>;
  events: Pick<NodeEventRepository, 'record'>;
  /** The iSCSI attacher (chosen once: chooseAttacher(mode)). */
  attacher: () => Promise<Pick<IscsiAttacher, 'attach' | 'sweepOrphans'>>;
  glance: Pick<GlanceClient, 'show' | 'download'>;
  partitioner: Pick<Partitioner, 'apply'>;
  writer: Pick<ImageWriter, 'writeRaw' | 'writeQcow2'>;
  tools: Pick<PartitionTools, 'mkswap' | 'mkfsEphemeral' | 'rootUuid'>;
  netboot: Pick<NetbootClient, 'activateBoot'>;
  compute: Pick<ComputeClient, 'deployStateChanged'>;
  sendDone?: DoneSender;
  sleep?: (ms: number) => Promise<void>;
  /** Told of the bytes written and each deploy's end (the service's metrics). */
  observer?: DeployObserver;
}

/** What a deploy tells whoever counts (bm_deploy_bytes_total, bm_deploy_duration_seconds). */
export interface DeployObserver {
  /** Image bytes written to a node's disk. */
  written(bytes: number): void;
  /** A deploy ended (done or failed; not one cut short by a shutdown) after `seconds`. */
  deployed(outcome: 'done' | 'failed', seconds: number): void;
}

export interface DeployNodeSettings {
  /** Where the ramdisk listens for `done` (Nova: 10000; tests use another). */
  donePort: number;
  /** Attempts to deliver `done` (default 5) and the wait before each retry (default 2 s): ~10 s. */
  doneAttempts: number;
  doneRetryMs: number;
  /** Filesystem of a fresh ephemeral partition (default ext3, label ephemeral0). */
  ephemeralFormat: string;
  /** Where qcow2 images are downloaded before conversion (default os.tmpdir()). */
  tmpDir?: string;
  /** CHAP credentials for the ramdisk's target, when it asks for them (the seed's ramdisk does not). */
  chap?: ChapCredentials;
}

export const DEFAULT_DEPLOY_SETTINGS: DeployNodeSettings = {
  donePort: 10000,
  doneAttempts: 5,
  doneRetryMs: 2000,
  ephemeralFormat: 'ext3',
};

export type DeployOutcome =
  | { kind: 'ignored'; reason: string }
  | { kind: 'done'; rootUuid: string }
  | { kind: 'failed'; step: string; reason: string };

/** A failure of one step, carrying the step's name. */
/** A deploy cut short by DeployNode.abandon() (shutdown): its job is left for another worker. */
export class DeployAbandoned extends Error {
  override readonly name = 'DeployAbandoned';
}

class StepFailed extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** Connects to `address:port`, writes `done`, closes (the seed's `notify`). */
export const sendDone: DoneSender = (address, port) =>
  new Promise<void>((resolve, reject) => {
    const s = connect({ host: address, port, timeout: 5000 });
    s.once('timeout', () => s.destroy(new Error(`no answer from ${address}:${port} within 5 s`)));
    s.once('error', reject);
    s.once('connect', () => s.end('done', () => resolve()));
  });

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * One deploy (Nova's deploy helper's `deploy()`, after the callback queued it): the row is
 * re-read and must still be `deploying` for the job's instance with the job's key, else the job
 * is stale (a duplicate, or the node moved on) and is dropped. Then: attach the ramdisk's LUN,
 * read the image's record, plan the layout, partition, write the image, mkswap, mkfs the
 * ephemeral partition unless preserve_ephemeral, read the root UUID, detach (always), switch
 * the PXE config to boot (netboot activate_boot), send `done`, mark `deploy complete`.
 * Any failure marks `deploy failed` and resolves: a failed deploy is not retried.
 *
 * The image: `bm_nodes.image_path` must hold the Glance id of the instance's image (a UUID);
 * compute's spawn must record it there (the seed kept a local file path).
 * Every step goes on the node's timeline. The deploy key is never logged.
 */
export class DeployNode {
  private readonly log = new Logger('deploy-worker');
  private readonly settings: DeployNodeSettings;
  /** The LUNs attached by deploys in progress (abandon() detaches them). */
  private readonly attached = new Set<AttachedLun>();
  private abandoning = false;

  constructor(
    private readonly ports: DeployPorts,
    settings: Partial<DeployNodeSettings> = {},
  ) {
    this.settings = { ...DEFAULT_DEPLOY_SETTINGS, ...settings };
  }

  /**
   * Rejects only when the row cannot be read, or when the callback that queued the job has not
   * moved the node to deploying yet (CallbackNotFinished): the queue retries both. Every deploy
   * outcome resolves.
   */
  run(job: DeployJob): Promise<DeployOutcome> {
    // Every line of the deploy names its node and instance.
    return withLogContext({ node_id: job.node_id, instance_uuid: job.instance_uuid }, () => this.runJob(job));
  }

  private async runJob(job: DeployJob): Promise<DeployOutcome> {
    const row = await this.ports.nodes.deployTarget(job.node_id);
    if (callbackPending(row, job)) throw new CallbackNotFinished(job.node_id);
    const stale = staleReason(row, job);
    if (stale || !row) {
      const reason = stale ?? 'unknown node';
      this.log.log(`node ${job.node_id}: deploy job ignored: ${reason}`);
      return { kind: 'ignored', reason };
    }
    if (job.ramdisk_error) this.log.warn(`node ${row.id}: the deploy ramdisk reported: ${job.ramdisk_error}`);
    this.log.log(`node ${row.id} instance ${job.instance_uuid}: deploying to ${job.address}:${job.port} ${job.iqn}`);
    const started = performance.now();
    const ended = (outcome: 'done' | 'failed') =>
      this.ports.observer?.deployed(outcome, (performance.now() - started) / 1000);
    try {
      const rootUuid = await this.deploy(row, job);
      await this.ports.nodes.transition(row.id, job.instance_uuid, 'deploy_done');
      await this.event(row, job, 'deploy complete', 0);
      await this.tellCompute(row, job, BmState.DEPLOYDONE);
      this.log.log(`node ${row.id} instance ${job.instance_uuid}: deploy complete (root ${rootUuid})`);
      ended('done');
      return { kind: 'done', rootUuid };
    } catch (e) {
      const step = e instanceof StepFailed ? e.step : 'finish';
      const reason = message(e);
      if (this.abandoning) {
        // Cut by abandon(): not the deploy's failure. The row stays `deploying` and the job
        // unacknowledged, so the broker gives it to another worker once this process is gone.
        this.log.warn(`node ${row.id} instance ${job.instance_uuid}: deploy abandoned at ${step} (shutdown)`);
        throw new DeployAbandoned(`node ${row.id}: deploy abandoned at ${step} by shutdown (${reason})`);
      }
      this.log.error(`node ${row.id} instance ${job.instance_uuid}: deploy failed at ${step}: ${reason}`);
      await this.event(row, job, `${step} failed: ${reason}`, null);
      await this.markFailed(row, job, `${step}: ${reason}`);
      ended('failed');
      return { kind: 'failed', step, reason };
    }
  }

  private async deploy(row: DeployTargetRow, job: DeployJob): Promise<string> {
    const lun = await this.step(row, job, 'attach', async () => {
      const attacher = await this.ports.attacher();
      const { chap } = this.settings;
      const target = { address: job.address, port: job.port, iqn: job.iqn, lun: job.lun, ...(chap ? { chap } : {}) };
      const attached = await attacher.attach(target);
      return { value: attached, detail: `${attached.sizeBytes} bytes at ${attached.path}` };
    });
    let lost: Error | undefined;
    void lun.lost.then((e) => (lost = e));
    let rootUuid: string;
    this.attached.add(lun);
    try {
      if (this.abandoning) throw new StepFailed('attach', new Error('shutting down'));
      rootUuid = await this.onDisk(row, job, lun);
    } catch (e) {
      this.attached.delete(lun);
      // Detach anyway; its own failure must not hide the deploy's.
      await lun.detach().catch((d: unknown) => this.log.error(`node ${row.id}: detach failed: ${message(d)}`));
      // The session went away under the step: that is the reason, more than the step's I/O error.
      if (lost && e instanceof StepFailed) throw new StepFailed(e.step, new Error(`${lost.message} (${e.message})`));
      throw e;
    }
    await this.step(row, job, 'detach', async () => {
      try {
        await lun.detach();
      } finally {
        this.attached.delete(lun);
      }
      return { value: undefined, detail: `${job.iqn} detached` };
    });
    await this.step(row, job, 'activate_boot', async () => {
      await this.ports.netboot.activateBoot(row.id, rootUuid);
      return { value: undefined, detail: `PXE config: boot, root=UUID=${rootUuid}` };
    });
    await this.step(row, job, 'notify', async () => {
      const attempts = await this.notify(job.address);
      return { value: undefined, detail: `done sent to ${job.address}:${this.settings.donePort} (${attempts} tries)` };
    });
    return rootUuid;
  }

  /**
   * Before the first job: what an earlier deploy helper left attached and nobody serves (its
   * storage daemons, their exports) is cleaned up, each thing logged. A failure is logged, not
   * thrown: the worker starts anyway.
   */
  async sweepLeftovers(): Promise<void> {
    try {
      const attacher = await this.ports.attacher();
      for (const line of (await attacher.sweepOrphans?.()) ?? []) this.log.warn(`left by an earlier process: ${line}`);
    } catch (e) {
      this.log.error(`cannot sweep what earlier processes left attached: ${message(e)}`);
    }
  }

  /**
   * Shutdown past its grace: every LUN still attached is detached at once (for the userspace
   * attacher, its qemu-storage-daemon is stopped), so I/O blocked on it fails and the deploys
   * end. Left attached, a write held by a daemon whose target has gone would keep this process
   * from exiting (a thread in an uninterruptible FUSE write). The deploys cut this way reject
   * with DeployAbandoned and are not marked failed: their jobs go to another worker.
   */
  async abandon(): Promise<void> {
    this.abandoning = true;
    const luns = [...this.attached];
    this.attached.clear();
    await Promise.allSettled(
      luns.map((lun) => lun.detach().catch((e: unknown) => this.log.error(`detach at shutdown failed: ${message(e)}`))),
    );
  }

  /** Everything done while the LUN is attached; returns the root filesystem's UUID. */
  private async onDisk(row: DeployTargetRow, job: DeployJob, lun: AttachedLun): Promise<string> {
    const image = await this.step(row, job, 'image', async () => {
      const id = row.image_path ?? '';
      if (!UUID.test(id)) {
        throw new Error(
          `bm_nodes.image_path ${JSON.stringify(row.image_path)} is not a Glance image id: ` +
            "compute must record the id of the instance's image in image_path",
        );
      }
      const img = await this.ports.glance.show(id);
      if (img.disk_format !== 'raw' && img.disk_format !== 'qcow2') {
        throw new Error(`image ${id} has disk_format ${String(img.disk_format)}: only raw and qcow2 are deployed`);
      }
      return { value: img, detail: `image ${id} ${img.disk_format} ${img.size ?? '?'} bytes`, bytes: img.size };
    });
    const layout = await this.step(row, job, 'layout', async () => {
      const imageBytes = (image.disk_format === 'qcow2' ? image.virtual_size : null) ?? image.size ?? 0;
      const l = partitionLayout({
        diskMb: Math.floor(lun.sizeBytes / MIB),
        rootMb: row.root_mb ?? 0,
        swapMb: row.swap_mb ?? 0,
        ephemeralMb: row.ephemeral_mb ?? 0,
        imageMb: imageBytes / MIB,
        scheme: 'icehouse',
        table: 'msdos',
      });
      const parts = l.partitions.map((p) => `${p.number}:${p.role} ${p.sizeMb} MiB@${p.startMb}`).join(', ');
      return { value: l, detail: `msdos icehouse ${parts}` };
    });
    await this.step(row, job, 'partition', async () => {
      await this.ports.partitioner.apply(layout, lun.path);
      return { value: undefined, detail: `${layout.partitions.length} partitions written` };
    });
    const root = part(layout, 'root');
    await this.step(row, job, 'write', async () => {
      const bytes = await this.write(
        image,
        lun.path,
        root,
        (written) =>
          // Every few percent (the writer's progress step), not awaited: the write goes on meanwhile.
          void this.event(
            row,
            job,
            `write: ${written} of ${image.size ?? '?'} bytes`,
            null,
            written,
            'deploy.progress',
          ),
      );
      this.ports.observer?.written(bytes);
      return { value: undefined, detail: `image ${image.id} written to partition ${root.number}`, bytes };
    });
    await this.step(row, job, 'mkswap', async () => {
      const swap = part(layout, 'swap');
      await this.ports.tools.mkswap(lun.path, bytesOf(swap).offset, bytesOf(swap).size, 'swap1');
      return { value: undefined, detail: `swap1 on partition ${swap.number}` };
    });
    const eph = partitionFor(layout, 'ephemeral');
    if (eph && row.preserve_ephemeral) {
      await this.event(row, job, `mkfs_ephemeral skipped: preserve_ephemeral (partition ${eph.number})`, 0);
    } else if (eph) {
      await this.step(row, job, 'mkfs_ephemeral', async () => {
        const { offset, size } = bytesOf(eph);
        await this.ports.tools.mkfsEphemeral(lun.path, offset, size, this.settings.ephemeralFormat, 'ephemeral0');
        return { value: undefined, detail: `${this.settings.ephemeralFormat} ephemeral0 on partition ${eph.number}` };
      });
    }
    return this.step(row, job, 'root_uuid', async () => {
      const uuid = await this.ports.tools.rootUuid(lun.path, bytesOf(root).offset, bytesOf(root).size);
      return { value: uuid, detail: `root filesystem UUID ${uuid}` };
    });
  }

  /** Writes the image into the root partition; returns the bytes taken from the image service. */
  private async write(
    image: GlanceImage,
    target: string,
    root: PlannedPartition,
    onProgress: (bytes: number) => void,
  ): Promise<number> {
    const { offset, size } = bytesOf(root);
    // Raw: the writer hashes what it writes and checks it; the download need not hash it too.
    const dl = await this.ports.glance.download(image.id, { verify: image.disk_format !== 'raw' });
    const expected = {
      ...(dl.size !== null ? { size: dl.size } : {}),
      ...(dl.checksum ? { md5: dl.checksum } : {}),
      ...(dl.os_hash_algo === 'sha512' && dl.os_hash_value ? { sha512: dl.os_hash_value } : {}),
    };
    if (image.disk_format === 'raw') {
      const r = await this.ports.writer.writeRaw({
        source: dl.stream,
        target,
        offsetBytes: offset,
        maxBytes: size,
        expected,
        onProgress,
      });
      return r.bytes;
    }
    // qcow2: the whole file first (the download stream verifies its checksums at its end).
    const dir = await mkdtemp(join(this.settings.tmpDir ?? tmpdir(), 'bm-deploy-'));
    try {
      const file = join(dir, 'image.qcow2');
      let bytes = 0;
      dl.stream.on('data', (c: Buffer) => (bytes += c.length));
      await pipeline(dl.stream, createWriteStream(file, { mode: 0o600 }));
      if (expected.size !== undefined && bytes !== expected.size) {
        throw new Error(`image ${image.id}: ${bytes} bytes downloaded, ${expected.size} expected`);
      }
      await this.ports.writer.writeQcow2({ sourcePath: file, target, offsetBytes: offset, sizeBytes: size });
      return bytes;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Sends `done`, retrying; returns the attempts it took. */
  private async notify(address: string): Promise<number> {
    const send = this.ports.sendDone ?? sendDone;
    const wait = this.ports.sleep ?? sleep;
    const attempts = Math.max(1, this.settings.doneAttempts);
    for (let i = 1; ; i++) {
      try {
        await send(address, this.settings.donePort);
        return i;
      } catch (e) {
        if (i >= attempts) throw new Error(`done not delivered to ${address}:${this.settings.donePort}: ${message(e)}`);
        await wait(this.settings.doneRetryMs);
      }
    }
  }

  /** Runs one step and records it on the timeline; a failure becomes a StepFailed naming it. */
  private async step<T>(
    row: DeployTargetRow,
    job: DeployJob,
    name: string,
    fn: () => Promise<{ value: T; detail: string; bytes?: number | null }>,
  ): Promise<T> {
    const started = Date.now();
    let out: { value: T; detail: string; bytes?: number | null };
    try {
      out = await fn();
    } catch (e) {
      throw e instanceof StepFailed ? e : new StepFailed(name, e);
    }
    await this.event(row, job, `${name}: ${out.detail}`, Date.now() - started, out.bytes ?? null);
    return out.value;
  }

  /** Best effort: a timeline that cannot be written does not fail the deploy. */
  private async event(
    row: DeployTargetRow,
    job: DeployJob,
    detail: string,
    durationMs: number | null,
    bytes: number | null = null,
    kind: 'deploy.step' | 'deploy.progress' = 'deploy.step',
  ): Promise<void> {
    await this.ports.events
      .record({
        nodeId: row.id,
        source: 'deploy-helper',
        kind,
        detail,
        durationMs,
        bytes,
        instanceUuid: job.instance_uuid,
      })
      .catch((e: unknown) => this.log.warn(`node ${row.id}: timeline not written: ${message(e)}`));
  }

  private async markFailed(row: DeployTargetRow, job: DeployJob, why: string): Promise<void> {
    try {
      await this.ports.nodes.transition(row.id, job.instance_uuid, 'deploy_failed', {}, why);
    } catch (e) {
      if (!MOVED_ON.some((cls) => e instanceof cls)) {
        this.log.error(`node ${row.id}: deploy failed not recorded: ${message(e)}`);
      } else {
        this.log.warn(`node ${row.id}: moved on meanwhile (${message(e)}); not marked deploy failed`);
        return;
      }
    }
    await this.tellCompute(row, job, BmState.DEPLOYFAIL);
  }

  private async tellCompute(row: DeployTargetRow, job: DeployJob, state: BmTaskState): Promise<void> {
    if (!row.service_host) return;
    const args = { node_id: row.id, instance_uuid: job.instance_uuid, task_state: state };
    await this.ports.compute.deployStateChanged(row.service_host, args).catch((e: unknown) => {
      this.log.warn(`node ${row.id}: deploy_state_changed to ${row.service_host} not sent: ${message(e)}`);
    });
  }
}

/** Why a job does not match its row (never naming the key), or undefined when it does. */
/**
 * The callback queues the job first and then moves the node prepared → deploying (so a deploying
 * node always has its job): a worker may get the job in between. The row still `prepared` for the
 * job's instance and key is that moment, not a stale job.
 */
export function callbackPending(row: DeployTargetRow | undefined, job: DeployJob): boolean {
  return (
    row?.task_state === BmState.PREPARED &&
    row.instance_uuid === job.instance_uuid &&
    !!row.deploy_key &&
    deployKeySha256(row.deploy_key) === job.key_sha256
  );
}

/**
 * A job for a node still `prepared` (callbackPending): thrown so the queue tries it again a moment
 * later; should the callback never finish moving the node, the job is dead-lettered after the
 * queue's attempts, and the node stays prepared for compute's deploy timeout.
 */
export class CallbackNotFinished extends Error {
  override readonly name = 'CallbackNotFinished';

  constructor(nodeId: number) {
    super(`node ${nodeId} is still prepared: the callback that queued this job has not moved it to deploying`);
  }
}

export function staleReason(row: DeployTargetRow | undefined, job: DeployJob): string | undefined {
  if (!row) return 'unknown or deleted node';
  if (row.task_state !== BmState.DEPLOYING) return `task_state is ${row.task_state ?? 'NULL'}, not deploying`;
  if (row.instance_uuid !== job.instance_uuid) return `node now carries instance ${row.instance_uuid ?? 'none'}`;
  if (!row.deploy_key || deployKeySha256(row.deploy_key) !== job.key_sha256) return 'the deploy key changed';
  return undefined;
}

function part(layout: PartitionLayout, role: 'root' | 'swap'): PlannedPartition {
  const p = partitionFor(layout, role);
  if (!p) throw new Error(`the layout has no ${role} partition`);
  return p;
}

function bytesOf(p: PlannedPartition): { offset: number; size: number } {
  return { offset: p.startSector * 512, size: p.sizeSectors * 512 };
}
