import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { type ComputeClient, DEPLOY_JOBS, type DeployJob, type DeployJobs, deployKeySha256 } from '@bm/contracts';
import { BmInterface, BmNode, DhcpReservationRepository, NodeEventRepository, NodeRepository } from '@bm/db';
import { BmState } from '@bm/domain';
import { CommandRunner } from '@bm/exec';
import { type UserspaceAttacherOptions, isMountPoint } from '@bm/iscsi';
import { AmqpConnection, JobQueue } from '@bm/messaging';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { freeTcpPort } from '../../../test/support/ports';
import { type TgtTarget, startTgt } from '../../../test/support/tgt';
import { DownloadPause, FakeGlance, type PublishedImage, realDeployNode } from '../test/deploy-harness';
import { AcceptCallback } from './accept-callback';
import type { DeployNodeSettings, DeployOutcome } from './deploy-node';

// The real thing but netboot and compute: PostgreSQL, an image service over HTTP read by the
// real GlanceClient, tgtd as the ramdisk's target, qemu-storage-daemon as the initiator,
// sfdisk/qemu-img/mkswap/mke2fs/blkid on the LUN, a `done` listener standing in for the ramdisk's
// netcat, and (once) deploy workers as processes on RabbitMQ.
const runner = new CommandRunner();
const KEY = 'QWERTYUIOPASDFGHJKLZXCVBNM012345';
const MIB = 1024 * 1024;
const ROOT = resolve(__dirname, '../../..');
/** The layout of every node here (Icehouse): ephemeral0 8 MiB at 1, swap1 8 MiB at 9, root at 17 MiB. */
const ROOT_AT = 17 * MIB;
/** A target that vanishes is given up after this long without a connection (the attacher's default is 30 s). */
const SESSION_LOSS_MS = 2000;
jest.setTimeout(120_000);

/** Pids of the qemu-storage-daemons alive whose argv names `iqn`. */
async function daemonsWith(iqn: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const argv = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (argv.startsWith('qemu-storage-daemon') && argv.includes(iqn)) pids.push(Number(p));
  }
  return pids;
}

/** An ext4 image of `sizeMb` holding /marker (and /payload when given); its bytes and UUID. */
async function ext4Image(dir: string, sizeMb: number, payload?: Buffer): Promise<{ file: string; uuid: string }> {
  const root = join(dir, 'root');
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'marker'), 'bm-deploy-marker\n');
  if (payload) await writeFile(join(root, 'payload'), payload);
  const file = join(dir, 'root.img');
  await runner.check('mkfs.ext4', ['-q', '-F', '-d', root, '-L', 'root', file, `${sizeMb}M`]);
  return { file, uuid: (await runner.check('blkid', ['-s', 'UUID', '-o', 'value', file])).stdout.trim() };
}

/** `bytes` bytes of the file at `offset`. */
async function slice(file: string, offset: number, bytes: number): Promise<Buffer> {
  const f = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await f.read(buf, 0, bytes, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}

/** /marker of the ext4 filesystem at `offset` in `file`. */
async function marker(file: string, offset: number): Promise<string> {
  return (await runner.check('debugfs', ['-R', 'cat /marker', `${file}?offset=${offset}`])).stdout;
}

/**
 * `tgtadm target delete --force` while an initiator is logged in: tgtd refuses ("this logical
 * unit is still active") while a command is in flight on the LUN; a moment later it is not.
 */
async function deleteTarget(t: TgtTarget): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await t.tgtadm(['--mode', 'target', '--op', 'delete', '--force', '--tid', '1']);
      return;
    } catch (e) {
      if (attempt >= 50 || !/still active/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Waits for the paused download; fails at once if the deploy (or worker) ended before it got there. */
async function untilPaused(pause: DownloadPause, ended: Promise<unknown>): Promise<void> {
  await Promise.race([
    pause.reached,
    ended.then((o) => Promise.reject(new Error(`ended before the download paused: ${JSON.stringify(o)}`))),
  ]);
}

/** `p`, or a failure once `ms` have passed without it settling. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A deploy worker process (apps/deploy-helper/test/deploy-worker.child.ts) and what it printed. */
interface WorkerProcess {
  child: ChildProcess;
  /** Its `@@ {json}` lines. */
  said: Array<Record<string, unknown>>;
  ready: Promise<void>;
  exited: Promise<number | null>;
  output(): string;
}

function startWorker(env: Record<string, string>): WorkerProcess {
  const script = join(ROOT, 'apps/deploy-helper/test/deploy-worker.child.ts');
  const loaders = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];
  const child = spawn(process.execPath, [...loaders, script], { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  let partial = '';
  const said: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter((l) => l.startsWith('@@ '))) {
        said.push(JSON.parse(line.slice(3)) as Record<string, unknown>);
        if (said.some((s) => s.ready)) resolveReady();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it was ready:\n${out}`)));
  });
  return { child, said, ready, exited, output: () => out };
}

describe('DeployNode with PostgreSQL, tgtd and the userspace initiator', () => {
  let db: NovaBmDatabase;
  let tgt: TgtTarget;
  let glance: FakeGlance;
  let work: string;
  /** The 32 MiB ext4 image, as raw and as qcow2, and its filesystem UUID. */
  let image: Buffer;
  let qcow2: Buffer;
  let imageUuid: string;
  /** A 128 MiB ext4 image with 48 MiB of non-zero data: long enough to be cut in the middle. */
  let big: Buffer;
  let bigUuid: string;
  let done: Server;
  let donePort: number;
  const received: string[] = [];
  const activated: Array<[number, string]> = [];
  const casts: Array<{ host: string; args: unknown }> = [];

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    work = await mkdtemp(join(tmpdir(), 'bm-deploy-int-'));
    const small = await ext4Image(join(work, 'small'), 32);
    image = await readFile(small.file);
    imageUuid = small.uuid;
    await runner.check('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', small.file, `${small.file}.qcow2`]);
    qcow2 = await readFile(`${small.file}.qcow2`);
    const mib = randomBytes(MIB);
    const large = await ext4Image(join(work, 'big'), 128, Buffer.concat(Array.from({ length: 48 }, () => mib)));
    big = await readFile(large.file);
    bigUuid = large.uuid;
    await rm(join(work, 'small'), { recursive: true });
    await rm(join(work, 'big'), { recursive: true });
    done = createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => received.push(Buffer.concat(chunks).toString()));
    });
    await new Promise<void>((r) => done.listen(0, '127.0.0.1', r));
    donePort = (done.address() as { port: number }).port;
    glance = await new FakeGlance().start();
    db = await createNovaBmDatabase();
    tgt = await startTgt({ sizeBytes: 64 * MIB });
  });

  afterAll(async () => {
    await tgt?.stop();
    await db?.drop();
    await glance?.close();
    await new Promise((r) => done?.close(r));
    await rm(work, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  /** Forgets what netboot, compute and the ramdisk were told (between tests, and between deploys within one). */
  function forget(): void {
    received.length = 0;
    activated.length = 0;
    casts.length = 0;
  }
  beforeEach(forget);

  /** Nodes made so far: each gets a BMC address of its own (one live node per BMC). */
  let made = 0;
  /** A node `deploying` `image` for a new instance, with this file's deploy key. */
  async function deployingNode(published: PublishedImage): Promise<{ id: number; instance: string }> {
    const instance = randomUUID();
    const r = db.ds.getRepository(BmNode);
    const n = await r.save(
      r.create({
        uuid: randomUUID(),
        service_host: 'cn-int',
        cpus: 1,
        memory_mb: 512,
        local_gb: 1,
        pm_address: `10.0.0.${++made}`,
        task_state: BmState.DEPLOYING,
        instance_uuid: instance,
        instance_name: 'vm',
        deploy_key: KEY,
        image_path: glance.publish(published),
        pxe_config_path: `/tftpboot/${instance}/config`,
        root_mb: 16,
        swap_mb: 8,
        ephemeral_mb: 8,
        preserve_ephemeral: false,
        created_at: new Date(),
        deleted: false,
      }),
    );
    return { id: n.id, instance };
  }

  function deployNode(o: { settings?: Partial<DeployNodeSettings>; attacher?: UserspaceAttacherOptions } = {}) {
    return realDeployNode({
      ds: db.ds,
      glanceUrl: glance.url,
      tmpRoot: work,
      attacher: { sessionLossTimeoutMs: SESSION_LOSS_MS, sessionCheckMs: 250, ...o.attacher },
      settings: { donePort, ...o.settings },
      activateBoot: (node, rootUuid) => activated.push([node, rootUuid]),
      deployStateChanged: (host, args) => casts.push({ host, args }),
    });
  }

  const jobFor = (n: { id: number; instance: string }, t: TgtTarget = tgt): DeployJob => ({
    node_id: n.id,
    instance_uuid: n.instance,
    key_sha256: deployKeySha256(KEY),
    address: t.address,
    port: t.port,
    iqn: t.iqn,
    lun: t.lun,
  });

  const taskState = async (id: number) => (await new NodeRepository(db.ds).deployTarget(id))?.task_state;
  const castOf = (n: { id: number; instance: string }, state: string) => ({
    host: 'cn-int',
    args: { node_id: n.id, instance_uuid: n.instance, task_state: state },
  });

  /** The node's timeline: each deploy.step's detail and bytes. */
  async function timeline(id: number): Promise<Array<{ detail: string; bytes: string | null }>> {
    return db.ds.query(
      `SELECT detail, bytes FROM bm_node_events WHERE node_id = $1 AND kind = 'deploy.step' ORDER BY id`,
      [id],
    );
  }
  const steps = async (id: number) => (await timeline(id)).map((e) => e.detail.split(':')[0]);
  const DEPLOYED_STEPS = [
    'attach',
    'image',
    'layout',
    'partition',
    'write',
    'mkswap',
    'mkfs_ephemeral',
    'root_uuid',
    'detach',
    'activate_boot',
    'notify',
    'deploy complete',
  ];

  /** Kills the qemu-storage-daemons of `iqn` and removes their FUSE exports and private dirs under `work`. */
  async function clearDaemons(iqn: string): Promise<void> {
    for (const pid of await daemonsWith(iqn)) process.kill(pid, 'SIGKILL');
    await eventually(async () => expect(await daemonsWith(iqn)).toEqual([]));
    for (const dir of (await readdir(work)).filter((d) => d.startsWith('bm-iscsi-'))) {
      const lun = join(work, dir, 'lun.raw');
      if (isMountPoint(await readFile('/proc/self/mountinfo', 'utf8'), lun)) {
        await runner.check('fusermount3', ['-u', '-z', lun]);
      }
      await rm(join(work, dir), { recursive: true, force: true });
    }
  }

  /** No daemon for `iqn`, no FUSE mount, no private dir of the attacher, no qcow2 download left. */
  async function expectNothingLeft(iqn: string): Promise<void> {
    expect(await daemonsWith(iqn)).toEqual([]);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(work); // the FUSE mounts live under `work`
    expect(await readdir(work)).toEqual(expect.not.arrayContaining([expect.stringMatching(/^bm-(iscsi|deploy)-/)]));
  }

  /** Deployed: done, deploy complete, boot activated once, done sent once, compute told, nothing left attached. */
  async function expectDeployed(n: { id: number; instance: string }, out: DeployOutcome, t: TgtTarget, uuid: string) {
    expect(out).toEqual({ kind: 'done', rootUuid: uuid });
    expect(await taskState(n.id)).toBe('deploy complete');
    expect(activated).toEqual([[n.id, uuid]]);
    expect(received).toEqual(['done']);
    expect(casts).toEqual([castOf(n, 'deploy complete')]);
    expect(await steps(n.id)).toEqual(DEPLOYED_STEPS);
    await expectNothingLeft(t.iqn);
  }

  /** The 32 MiB image on the LUN's backing file: the table, its filesystem at root with /marker, swap1, ephemeral0. */
  async function expectImageOnDisk(file: string): Promise<void> {
    const table = JSON.parse((await runner.check('sfdisk', ['-J', file])).stdout) as {
      partitiontable: { label: string; partitions: Array<{ start: number; size: number; type: string }> };
    };
    expect(table.partitiontable.label).toBe('dos');
    expect(table.partitiontable.partitions.map((p) => [p.start, p.size, p.type])).toEqual([
      [1 * 2048, 8 * 2048, '83'],
      [9 * 2048, 8 * 2048, '82'],
      [17 * 2048, 32 * 2048, '83'],
    ]);
    const probe = async (mib: number, tag: string) =>
      (await runner.check('blkid', ['-p', '-O', String(mib * MIB), '-s', tag, '-o', 'value', file])).stdout.trim();
    expect(await probe(17, 'UUID')).toBe(imageUuid);
    expect(await probe(17, 'LABEL')).toBe('root');
    expect(await probe(9, 'TYPE')).toBe('swap');
    expect(await probe(9, 'LABEL')).toBe('swap1');
    expect(await probe(1, 'LABEL')).toBe('ephemeral0');
    expect(await marker(file, ROOT_AT)).toContain('bm-deploy-marker');
  }

  /** Failed at `step` for `reason`: deploy failed, compute told, no boot, no done, nothing left attached. */
  async function expectFailed(
    n: { id: number; instance: string },
    out: DeployOutcome,
    step: string,
    reason: RegExp,
    iqn: string,
  ): Promise<void> {
    expect(out).toMatchObject({ kind: 'failed', step });
    expect((out as { reason: string }).reason).toMatch(reason);
    expect(await taskState(n.id)).toBe('deploy failed');
    expect(activated).toEqual([]);
    expect(received).toEqual([]);
    expect(casts).toEqual([castOf(n, 'deploy failed')]);
    expect((await steps(n.id)).pop()).toBe(`${step} failed`);
    await expectNothingLeft(iqn);
  }

  it('deploys the image: Icehouse layout, image at root, swap1, ephemeral0, boot activated, done sent', async () => {
    const n = await deployingNode({ disk_format: 'raw', data: image });
    await expectDeployed(n, await deployNode().run(jobFor(n)), tgt, imageUuid);
    await expectImageOnDisk(tgt.backingFile);
    expect(JSON.stringify(await timeline(n.id))).not.toContain(KEY);
  });

  it('a disk deployed before (ephemeral0 there already) is deployed again', async () => {
    for (const _ of [1, 2]) {
      const n = await deployingNode({ disk_format: 'raw', data: image });
      forget();
      await expectDeployed(n, await deployNode().run(jobFor(n)), tgt, imageUuid);
    }
    await expectImageOnDisk(tgt.backingFile);
  });

  it('a corrupt image (checksum mismatch): deploy failed, nothing left attached, no boot, no done', async () => {
    const corrupt = Buffer.from(image);
    corrupt[5 * MIB] ^= 0xff;
    const n = await deployingNode({ disk_format: 'raw', data: corrupt, checksummed: image });
    await expectFailed(n, await deployNode().run(jobFor(n)), 'write', /checksum|md5|sha512/i, tgt.iqn);
  });

  it('a target with CHAP: deployed with the configured credentials; refused at attach without them', async () => {
    const chap = { user: 'deployer', password: `Chap-${randomBytes(6).toString('hex')}` };
    const t = await startTgt({ sizeBytes: 64 * MIB, chap });
    try {
      const refused = await deployingNode({ disk_format: 'raw', data: image });
      await expectFailed(refused, await deployNode().run(jobFor(refused, t)), 'attach', /login refused/, t.iqn);
      forget();
      const n = await deployingNode({ disk_format: 'raw', data: image });
      await expectDeployed(n, await deployNode({ settings: { chap } }).run(jobFor(n, t)), t, imageUuid);
      await expectImageOnDisk(t.backingFile);
      expect(JSON.stringify(await timeline(n.id))).not.toContain(chap.password);
    } finally {
      await t.stop();
    }
  });

  it('a qcow2 image: converted onto root, the filesystem there; the checksums verified are the qcow2 file’s', async () => {
    const qcow = { disk_format: 'qcow2', data: qcow2, virtual_size: image.length } as const;
    // The raw image's checksums on the qcow2 data: the download is refused.
    const wrong = await deployingNode({ ...qcow, checksummed: image });
    await expectFailed(wrong, await deployNode().run(jobFor(wrong)), 'write', /md5|sha512/, tgt.iqn);
    forget();
    await runner.check('dd', ['if=/dev/zero', `of=${tgt.backingFile}`, 'bs=1M', 'count=64', 'conv=notrunc']);
    const n = await deployingNode(qcow);
    await expectDeployed(n, await deployNode().run(jobFor(n)), tgt, imageUuid);
    await expectImageOnDisk(tgt.backingFile);
    const write = (await timeline(n.id)).find((e) => e.detail.startsWith('write:'));
    expect(Number(write?.bytes)).toBe(qcow2.length);
  });

  const absent: Array<[string, () => Promise<Partial<DeployJob>>, RegExp]> = [
    ['the IQN is not exported', async () => ({ iqn: `${tgt.iqn}-absent` }), /no such target or LUN: .*-absent/],
    ['no tgtd at the portal', async () => ({ port: await freeTcpPort() }), /cannot connect: .*127\.0\.0\.1:\d+/],
  ];
  it.each(absent)('a missing target (%s): deploy failed at attach, nothing attached', async (_what, patch, why) => {
    const n = await deployingNode({ disk_format: 'raw', data: image });
    const job = { ...jobFor(n), ...(await patch()) };
    await expectFailed(n, await deployNode().run(job), 'attach', why, job.iqn);
    expect(await steps(n.id)).toEqual(['attach failed']);
  });

  const vanishing: Array<[string, (t: TgtTarget) => Promise<unknown>]> = [
    ['tgtd killed', async (t) => process.kill(t.pid!, 'SIGKILL')],
    ['the target deleted', deleteTarget],
  ];
  it.each(vanishing)(
    'the target vanishing mid-write (%s): deploy failed at write, in bounded time',
    async (_w, vanish) => {
      const t = await startTgt({ sizeBytes: 160 * MIB });
      const pause = new DownloadPause(32 * MIB);
      try {
        const n = await deployingNode({ disk_format: 'raw', data: big, pause });
        const run = deployNode().run(jobFor(n, t));
        await untilPaused(pause, run);
        await vanish(t);
        pause.resume();
        const out = await within(SESSION_LOSS_MS + 15_000, run);
        await expectFailed(n, out, 'write', /no connection to the target for 2000 ms/, t.iqn);
      } finally {
        pause.resume();
        await clearDaemons(t.iqn); // only if it hung
        await t.stop();
      }
    },
  );

  it('a worker SIGKILLed mid-write: the job comes back to another worker, which deploys the image', async () => {
    const t = await startTgt({ sizeBytes: 160 * MIB });
    const queue = uniqueName('bm_deploy_int');
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    const workers: WorkerProcess[] = [];
    const pause = new DownloadPause(32 * MIB);
    const env = {
      DATABASE_URL: db.url,
      AMQP_URL: TEST_AMQP_URL,
      QUEUE: queue,
      GLANCE_URL: glance.url,
      TMP_ROOT: work,
      DONE_PORT: String(donePort),
      SESSION_LOSS_MS: String(SESSION_LOSS_MS),
    };
    try {
      const n = await deployingNode({ disk_format: 'raw', data: big, pause });
      const first = startWorker(env);
      workers.push(first);
      await first.ready;
      await new JobQueue(conn, { queue, exchange: DEPLOY_JOBS.exchange }).publish({ ...jobFor(n, t) });
      await untilPaused(pause, first.exited);
      // Mid-write: the image's first MiB is on the disk already; the image service holds back the rest.
      const head = big.subarray(0, MIB);
      await eventually(async () => expect((await slice(t.backingFile, ROOT_AT, MIB)).equals(head)).toBe(true), 10_000);
      first.child.kill('SIGKILL');
      await first.exited;
      // Its qemu-storage-daemon outlives it, still logged in and mounted: cleared away as an operator would.
      await clearDaemons(t.iqn);
      expect(await taskState(n.id)).toBe('deploying');

      const second = startWorker(env);
      workers.push(second);
      await second.ready;
      await eventually(
        async () => expect(await taskState(n.id)).toMatch(/^deploy (complete|failed)$/),
        60_000,
        200,
      ).catch((e: Error) => Promise.reject(new Error(`${e.message}\nthe second worker said:\n${second.output()}`)));
      expect(await taskState(n.id)).toBe('deploy complete');
      expect(second.said.filter((s) => s.activate_boot)).toEqual([{ activate_boot: [n.id, bigUuid] }]);
      expect(first.said.filter((s) => s.activate_boot || s.cast)).toEqual([]);
      expect(received).toEqual(['done']);
      const timelineSteps = await steps(n.id);
      expect(timelineSteps.slice(0, 4)).toEqual(['attach', 'image', 'layout', 'partition']);
      expect(timelineSteps.slice(4)).toEqual(DEPLOYED_STEPS);
      await expectNothingLeft(t.iqn);
      expect((await slice(t.backingFile, ROOT_AT, big.length)).equals(big)).toBe(true);
      expect(await marker(t.backingFile, ROOT_AT)).toContain('bm-deploy-marker');
      const ch = await conn.channel();
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
      await ch.close();
    } finally {
      pause.resume();
      for (const w of workers) {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
        await w.exited;
      }
      const ch = await conn.channel();
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.deleteQueue(`${queue}.dead`).catch(() => undefined);
      await ch.close().catch(() => undefined);
      await conn.close();
      await t.stop();
    }
  });

  const ended: Array<[string, Buffer | undefined, string]> = [
    ['deploy complete', undefined, '10.77.0.51'],
    ['deploy failed', Buffer.from('checksums of other data'), '10.77.0.52'],
  ];
  it.each(ended)(
    'the deploy key used again after the deploy ended (%s): refused, nothing changes',
    async (state, sums, ip) => {
      const n = await deployingNode({ disk_format: 'raw', data: image, ...(sums ? { checksummed: sums } : {}) });
      await deployNode().run(jobFor(n));
      const mac = `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
      await db.ds.getRepository(BmInterface).save({ bm_node_id: n.id, address: mac, created_at: new Date() });
      await new DhcpReservationRepository(db.ds).save({ mac, ip, active: true });
      const row = async () => (await db.ds.query(`SELECT * FROM bm_nodes WHERE id = $1`, [n.id]))[0] as BmNode;
      const before = await row();
      expect(before.task_state).toBe(state);
      expect(before.deploy_key).toBeNull(); // used once: cleared when the deploy ended
      const queued: DeployJob[] = [];
      forget();
      const accept = new AcceptCallback(
        new NodeRepository(db.ds),
        { publish: async (job: DeployJob) => void queued.push(job) } as unknown as DeployJobs,
        { deployStateChanged: async () => void casts.push({ host: '?', args: null }) } as unknown as ComputeClient,
        new NodeEventRepository(db.ds),
      );
      const out = await accept.run({
        method: 'POST',
        contentType: 'application/x-www-form-urlencoded',
        body: Buffer.from(`i=${n.id}&k=${KEY}&a=${ip}&n=${tgt.iqn}&e=`),
        remoteAddress: ip,
      });
      // The seed's answer to a key that does not match: there is no key any more.
      expect({ status: out.status, body: out.body }).toEqual({ status: 400, body: 'key is not match' });
      expect(await row()).toEqual(before);
      expect(queued).toEqual([]);
      expect(casts).toEqual([]);
    },
  );
});
