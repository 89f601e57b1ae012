import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { type DeployJob, deployKeySha256 } from '@bm/contracts';
import { BmNode, NodeEventRepository, NodeRepository } from '@bm/db';
import { ImageWriter, PartitionTools, Partitioner } from '@bm/disk';
import { BmState } from '@bm/domain';
import { CommandRunner } from '@bm/exec';
import { UserspaceAttacher } from '@bm/iscsi';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type TgtTarget, startTgt } from '../../../test/support/tgt';
import { DeployNode, type DeployPorts } from './deploy-node';

// The real thing but the image service, netboot and compute: PostgreSQL, tgtd as the ramdisk's
// target, qemu-storage-daemon as the initiator, sfdisk/mkswap/mke2fs/blkid on the LUN, and a
// `done` listener standing in for the ramdisk's netcat.
const runner = new CommandRunner();
const KEY = 'QWERTYUIOPASDFGHJKLZXCVBNM012345';
const MIB = 1024 * 1024;
jest.setTimeout(120_000);

/** qemu-storage-daemons alive whose argv names `iqn`. */
async function daemonsWith(iqn: string): Promise<number> {
  let n = 0;
  for (const p of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const argv = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (argv.startsWith('qemu-storage-daemon') && argv.includes(iqn)) n++;
  }
  return n;
}

describe('DeployNode with PostgreSQL, tgtd and the userspace initiator', () => {
  let db: NovaBmDatabase;
  let tgt: TgtTarget;
  let work: string;
  let image: Buffer;
  let imageUuid: string;
  let done: Server;
  let donePort: number;
  const received: string[] = [];
  const activated: Array<[number, string]> = [];
  const casts: Array<{ host: string; args: unknown }> = [];
  let served: Buffer;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    work = await mkdtemp(join(tmpdir(), 'bm-deploy-int-'));
    await writeFile(join(work, 'marker'), 'bm-deploy-marker\n');
    const root = join(work, 'root');
    await runner.check('mkdir', ['-p', root]);
    await writeFile(join(root, 'marker'), 'bm-deploy-marker\n');
    const img = join(work, 'root.img');
    await runner.check('mkfs.ext4', ['-q', '-F', '-d', root, '-L', 'root', img, '32M']);
    image = await readFile(img);
    imageUuid = (await runner.check('blkid', ['-s', 'UUID', '-o', 'value', img])).stdout.trim();
    done = createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => received.push(Buffer.concat(chunks).toString()));
    });
    await new Promise<void>((r) => done.listen(0, '127.0.0.1', r));
    donePort = (done.address() as { port: number }).port;
    db = await createNovaBmDatabase();
    tgt = await startTgt({ sizeBytes: 64 * MIB });
  });

  afterAll(async () => {
    await tgt?.stop();
    await db?.drop();
    await new Promise((r) => done?.close(r));
    await rm(work, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  async function deployingNode(imageId: string): Promise<{ id: number; instance: string }> {
    const instance = randomUUID();
    const r = db.ds.getRepository(BmNode);
    const n = await r.save(
      r.create({
        uuid: randomUUID(),
        service_host: 'cn-int',
        cpus: 1,
        memory_mb: 512,
        local_gb: 1,
        pm_address: '10.0.0.1',
        task_state: BmState.DEPLOYING,
        instance_uuid: instance,
        instance_name: 'vm',
        deploy_key: KEY,
        image_path: imageId,
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

  function deployNode(): DeployNode {
    const glance: DeployPorts['glance'] = {
      show: async (id: string) => ({ id, disk_format: 'raw', size: image.length, virtual_size: null }) as never,
      download: async () => ({
        stream: Readable.from([served]),
        size: image.length,
        checksum: createHash('md5').update(image).digest('hex'),
        os_hash_algo: 'sha512',
        os_hash_value: createHash('sha512').update(image).digest('hex'),
      }),
    };
    const ports: DeployPorts = {
      nodes: new NodeRepository(db.ds),
      events: new NodeEventRepository(db.ds),
      attacher: async () => new UserspaceAttacher(runner, { readyTimeoutMs: 15_000, tmpRoot: work }),
      glance,
      partitioner: new Partitioner(runner),
      writer: new ImageWriter(runner),
      tools: new PartitionTools(runner),
      netboot: {
        activateBoot: async (node: number, rootUuid: string) => {
          activated.push([node, rootUuid]);
          return { node: String(node), instance: '', root_uuid: rootUuid };
        },
      } as unknown as DeployPorts['netboot'],
      compute: {
        deployStateChanged: async (host: string, args: unknown) => void casts.push({ host, args }),
      } as unknown as DeployPorts['compute'],
    };
    return new DeployNode(ports, { donePort, doneRetryMs: 200 });
  }

  const jobFor = (n: { id: number; instance: string }): DeployJob => ({
    node_id: n.id,
    instance_uuid: n.instance,
    key_sha256: deployKeySha256(KEY),
    address: tgt.address,
    port: tgt.port,
    iqn: tgt.iqn,
    lun: tgt.lun,
  });

  it('deploys the image: Icehouse layout, image at root, swap1, ephemeral0, boot activated, done sent', async () => {
    served = image;
    const id = randomUUID();
    const n = await deployingNode(id);
    const out = await deployNode().run(jobFor(n));
    expect(out).toEqual({ kind: 'done', rootUuid: imageUuid });
    expect((await new NodeRepository(db.ds).deployTarget(n.id))?.task_state).toBe('deploy complete');
    expect(activated).toEqual([[n.id, imageUuid]]);
    expect(received).toEqual(['done']);
    expect(casts).toEqual([
      { host: 'cn-int', args: { node_id: n.id, instance_uuid: n.instance, task_state: 'deploy complete' } },
    ]);
    expect(await daemonsWith(tgt.iqn)).toBe(0);

    const file = tgt.backingFile;
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
    const marker = await runner.check('debugfs', ['-R', 'cat /marker', `${file}?offset=${17 * MIB}`]);
    expect(marker.stdout).toContain('bm-deploy-marker');

    const events = await db.ds.query(
      `SELECT detail, bytes FROM bm_node_events WHERE node_id = $1 AND kind = 'deploy.step' ORDER BY id`,
      [n.id],
    );
    const steps = (events as Array<{ detail: string }>).map((e) => e.detail.split(':')[0]);
    expect(steps).toEqual([
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
    ]);
    expect(JSON.stringify(events)).not.toContain(KEY);
  });

  it('a corrupt image (checksum mismatch): deploy failed, nothing left attached, no boot, no done', async () => {
    served = Buffer.from(image);
    served[5 * MIB] ^= 0xff;
    activated.length = 0;
    received.length = 0;
    casts.length = 0;
    const n = await deployingNode(randomUUID());
    const out = await deployNode().run(jobFor(n));
    expect(out).toMatchObject({ kind: 'failed', step: 'write' });
    expect((out as { reason: string }).reason).toMatch(/checksum|md5|sha512/i);
    expect((await new NodeRepository(db.ds).deployTarget(n.id))?.task_state).toBe('deploy failed');
    expect(await daemonsWith(tgt.iqn)).toBe(0);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(work); // the attacher's FUSE mounts live under `work`
    expect(await readdir(work)).toEqual(expect.not.arrayContaining([expect.stringMatching(/^bm-iscsi-/)]));
    expect(activated).toEqual([]);
    expect(received).toEqual([]);
    expect(casts).toEqual([
      { host: 'cn-int', args: { node_id: n.id, instance_uuid: n.instance, task_state: 'deploy failed' } },
    ]);
  });
});
