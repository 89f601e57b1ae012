import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { lstat, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { RemoteError } from '@bm/messaging';
import { type RpcCaller, type TestBus, eventually, openBus, uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { enrollNode } from '../../../test/support/nodes';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { freeUdpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// The built netboot service on the bus: prepare_deploy (images by id, fetched from the built images
// service into the verified cache) / activate_boot / clean on a real TFTP tree, and that tree
// served by its TFTP server (curl as the client).
const run = promisify(execFile);
const HOST = 'cn-netboot';
const INSTANCE = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';
const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

describe('netboot service RPC', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let svc: ServiceProcess;
  let bus: TestBus;
  let call: RpcCaller;
  let tftpRoot: string;
  let images: Record<string, string>;
  let site: TestImages;
  let nodeId: number;
  let tftpPort: number;
  const exchange = uniqueName('netboot');

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_netboot');
    ds = db.ds;
    nodeId = await enrollNode(ds, HOST, { macs: ['52:54:00:80:00:01', '52:54:00:80:00:02'] });
    await ds.query(`UPDATE bm_nodes SET instance_uuid = $1 WHERE id = $2`, [INSTANCE, nodeId]);
    tftpRoot = await mkdtemp(join(tmpdir(), 'tftproot-'));
    site = await startTestImages(
      { databaseUrl: db.url, exchange, host: HOST },
      await mkdtemp(join(tmpdir(), 'images-')),
    );
    const { kernel, ramdisk, deploy_kernel, deploy_ramdisk } = site.ids;
    images = { kernel, ramdisk, deploy_kernel, deploy_ramdisk };
    bus = await openBus(exchange);
    call = bus.caller({ topic: 'baremetal-netboot', server: HOST }, { version: '1.0', timeout: 10 });
    tftpPort = await freeUdpPort();
    svc = startService(
      'netboot',
      await serviceEnv(
        { databaseUrl: db.url, exchange, host: HOST },
        {
          BM_TFTP_ROOT: tftpRoot,
          BM_TFTP_ENABLED: 'true',
          BM_LISTEN_ADDRESS: '127.0.0.1',
          BM_TFTP_PORT: String(tftpPort),
          ...site.env,
        },
      ),
    );
    await svc.waitFor('rpc=');
  });
  afterAll(async () => {
    await svc?.stop();
    await site?.stop();
    await bus?.close();
    await db?.drop();
  });

  it('prepare_deploy fetches the images by id into the verified cache, links them, writes the config and a link per MAC', async () => {
    const r = await call('prepare_deploy', { node: nodeId, instance: INSTANCE, images, deploy_key: KEY });
    expect(r).toMatchObject({
      pxe_config_path: join(tftpRoot, INSTANCE, 'config'),
      macs: ['52:54:00:80:00:01', '52:54:00:80:00:02'],
    });
    const cfg = await readFile(join(tftpRoot, 'pxelinux.cfg', '01-52-54-00-80-00-02'), 'utf8');
    expect(cfg).toMatch(/^default deploy\n/);
    expect(cfg).toContain(`deployment_id=${nodeId} deployment_key=${KEY}`);
    expect(cfg).toContain(`kernel ${tftpRoot}/${INSTANCE}/deploy_kernel`);
    expect(await readFile(join(tftpRoot, INSTANCE, 'deploy_ramdisk'), 'utf8')).toBe('bytes of deploy_ramdisk');
    // The cache ([netboot] image_cache_dir, default <tftp_root>/master_images) holds one file per
    // id, hard-linked (same inode) into the instance's directory.
    const cache = join(tftpRoot, 'master_images');
    expect((await readdir(cache)).sort()).toEqual(Object.values(images).sort());
    expect((await stat(join(tftpRoot, INSTANCE, 'kernel'))).ino).toBe((await stat(join(cache, images.kernel))).ino);
  });

  it('an image the image service does not have fails prepare_deploy and writes no config', async () => {
    const other = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a09';
    const missing = '0f0f0f0f-0000-4000-8000-000000000000';
    const e = (await call('prepare_deploy', {
      node: nodeId,
      instance: other,
      images: { ...images, ramdisk: missing },
      deploy_key: KEY,
    }).catch((x) => x)) as RemoteError;
    expect(e.name).toBe('GlanceRequestFailed');
    expect(e.message).toContain(`/v2/images/${missing}: 404`);
    await expect(lstat(join(tftpRoot, other))).rejects.toThrow(/ENOENT/);
  });

  it('serves the files over TFTP: the 01-<mac> config and the absolute paths it names (curl)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fetched-'));
    await run('curl', [
      '-sS',
      '--tftp-blksize',
      '1468',
      '-o',
      join(dir, 'cfg'),
      `tftp://127.0.0.1:${tftpPort}/pxelinux.cfg/01-52-54-00-80-00-01`,
    ]);
    expect(await readFile(join(dir, 'cfg'), 'utf8')).toMatch(/^default deploy\n/);
    await run('curl', [
      '-sS',
      '-o',
      join(dir, 'dk'),
      `tftp://127.0.0.1:${tftpPort}/${tftpRoot}/${INSTANCE}/deploy_kernel` /* "//tmp/…": curl then sends the absolute name, as pxelinux does */,
    ]);
    expect(await readFile(join(dir, 'dk'), 'utf8')).toBe('bytes of deploy_kernel');
    await expect(
      run('curl', ['-sS', '-o', join(dir, 'x'), `tftp://127.0.0.1:${tftpPort}/../../etc/passwd`]),
    ).rejects.toThrow();
    await eventually(() =>
      expect(svc.output()).toMatch(/complete 127\.0\.0\.1:\d+ pxelinux\.cfg\/01-52-54-00-80-00-01 \d+ bytes/),
    );
    // One event per file on the node's timeline: the config found by its MAC, the kernel by its instance.
    await eventually(async () =>
      expect(
        await ds.query(
          `SELECT kind, detail, bytes::int AS bytes, instance_uuid FROM bm_node_events
            WHERE node_id = $1 AND kind LIKE 'tftp.%' ORDER BY id`,
          [nodeId],
        ),
      ).toEqual([
        {
          kind: 'tftp.file',
          detail: expect.stringMatching(/^pxelinux\.cfg\/01-52-54-00-80-00-01 to 127\.0\.0\.1 /),
          bytes: (await stat(join(dir, 'cfg'))).size,
          instance_uuid: null,
        },
        {
          kind: 'tftp.file',
          detail: expect.stringContaining(`${INSTANCE}/deploy_kernel to 127.0.0.1 `),
          bytes: 'bytes of deploy_kernel'.length,
          instance_uuid: INSTANCE,
        },
      ]),
    );
  });

  it('activate_boot switches every MAC to the boot label with the root UUID', async () => {
    await call('activate_boot', { node: nodeId, root_uuid: 'b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab' });
    const cfg = await readFile(join(tftpRoot, 'pxelinux.cfg', '01-52-54-00-80-00-01'), 'utf8');
    expect(cfg).toMatch(/^default boot\n/);
    expect(cfg).toContain('root=UUID=b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab ro');
  });

  it('bad arguments are named', async () => {
    const e = (await call('prepare_deploy', {
      node: nodeId,
      instance: 'nope',
      images: { ...images, kernel: '/etc/shadow' },
      deploy_key: 'short',
    }).catch((x) => x)) as RemoteError;
    expect(e.name).toBe('InvalidRpcArguments');
    expect(e.message).toBe(
      'Invalid arguments for prepare_deploy: instance: must be a UUID; images.kernel: must be an image id (a UUID); deploy_key: must be 32 characters A-Z0-9',
    );
    const missing = (await call('clean', { node: 4242 }).catch((x) => x)) as RemoteError;
    expect(missing.name).toBe('NodeNotFound');
  });

  it('clean removes the files and links, and can be repeated', async () => {
    await call('clean', { node: nodeId });
    await expect(lstat(join(tftpRoot, INSTANCE))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(tftpRoot, 'pxelinux.cfg', '01-52-54-00-80-00-01'))).rejects.toThrow(/ENOENT/);
    expect(await call('clean', { node: nodeId })).toMatchObject({ instance: INSTANCE });
  });
});
