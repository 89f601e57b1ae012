import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { BmDhcpReservation } from '@bm/db';
import { generateDeployKey } from '@bm/pxe';
import {
  type RpcCaller,
  TEST_AMQP_URL,
  type TestBus,
  eventually,
  openBus,
  uniqueName,
} from '../../../test/support/amqp';
import { requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import {
  type Netns,
  TEST_BOOT_DIR,
  bootNetwork,
  bootWorkspace,
  pxeBootVm,
  testNamespaces,
} from '../../../test/support/netns';
import { type TestImages, startTestImages } from '../../../test/support/images';
import { enrollNode } from '../../../test/support/nodes';
import { type ServiceProcess, siteEnv, startService } from '../../../test/support/service';

// The seed's two boots through the built netboot service, as a compute host would drive it: the
// service runs in a network namespace with a tap for a QEMU VM (its database and broker relayed in
// from the host's loopback), reads the enrolled MAC from nova_bm, and is driven over the bus.
//   1. prepare_deploy → the VM PXE-boots (our DHCP + TFTP) into the deploy kernel and ramdisk with
//      Nova's deploy command line (deployment_id, deployment_key, iscsi_target_iqn, ipappend 3).
//   2. activate_boot → the same VM boots the instance's kernel with root=UUID=…, at the same address.
//   3. clean → the node's files and links are gone.
// The kernel is Debian's; the "ramdisks" are a busybox initramfs printing its command line
// (scripts/netboot/build-test-boot.sh). Each boot takes ~10 s under TCG.
const HOST = 'cn-pxe';
const MAC = '52:54:00:77:00:31';
const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const ROOT_UUID = 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f';

describe('netboot service: a VM PXE-boots the deploy ramdisk, then the instance', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let ns: Netns | undefined;
  let svc: ServiceProcess;
  let bus: TestBus;
  let call: RpcCaller;
  let work: string;
  let tftpRoot: string;
  let nodeId: number;
  let images: TestImages;
  const exchange = uniqueName('pxe');
  const namespacesBefore = testNamespaces();
  /** The service's output (it runs in the namespace). */
  const out = () => svc.output();

  beforeAll(async () => {
    requireBuilt('netboot');
    ({ work, tftpRoot } = await bootWorkspace('netboot-pxe'));

    db = await createNovaBmDatabase('bm_pxe');
    ds = db.ds;
    nodeId = await enrollNode(ds, HOST, { macs: [MAC] });
    await ds.query('UPDATE bm_nodes SET instance_uuid = $1 WHERE id = $2', [INSTANCE, nodeId]);

    // The Debian kernel and the test initramfs, uploaded as the instance's and the deploy images.
    const [kernel, initrd] = await Promise.all(['vmlinuz', 'initrd.gz'].map((f) => readFile(join(TEST_BOOT_DIR, f))));
    images = await startTestImages({ databaseUrl: db.url, exchange, host: HOST }, join(work, 'images'), {
      kernel,
      ramdisk: initrd,
      deploy_kernel: kernel,
      deploy_ramdisk: initrd,
    });

    ns = await bootNetwork('pxe', work);
    await ns.forwardHostPort(Number(new URL(db.url).port || 5432));
    await ns.forwardHostPort(Number(new URL(images.url).port));
    await ns.forwardHostPort(Number(new URL(TEST_AMQP_URL).port || 5672));
    svc = startService(
      'netboot',
      {
        ...siteEnv({ databaseUrl: db.url, exchange, host: HOST }),
        BM_MY_IP: '10.77.0.1',
        BM_PXE_INTERFACE: 'tap0',
        BM_TFTP_ROOT: tftpRoot,
        BM_PXE_APPEND_PARAMS: 'console=ttyS0 panic=1 quiet',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.77.0.50,10.77.0.99',
        BM_TFTP_ENABLED: 'true',
        ...images.env,
      },
      ns,
    );
    await svc.waitFor('rpc=', 30_000);
    bus = await openBus(exchange);
    call = bus.caller({ topic: 'baremetal-netboot', server: HOST }, { version: '1.0', timeout: 15 });
  }, 320_000);

  afterAll(async () => {
    await bus?.close();
    await ns?.destroy();
    await images?.stop();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("prepare_deploy, then the VM boots the deploy ramdisk with Nova's command line from our DHCP and TFTP", async () => {
    const key = generateDeployKey();
    await call('prepare_deploy', {
      node: nodeId,
      instance: INSTANCE,
      deploy_key: key,
      images: {
        kernel: images.ids.kernel,
        ramdisk: images.ids.ramdisk,
        deploy_kernel: images.ids.deploy_kernel,
        deploy_ramdisk: images.ids.deploy_ramdisk,
      },
    });
    const line = await pxeBootVm(ns!, MAC, join(work, 'deploy-boot.log'));
    expect(line).toContain(
      `initrd=${tftpRoot}/${INSTANCE}/deploy_ramdisk selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${INSTANCE} deployment_id=${nodeId} deployment_key=${key} troubleshoot=0 console=ttyS0`,
    );
    // ipappend 3, from our lease: address:next-server:gateway:netmask, and the NIC.
    expect(line).toContain('ip=10.77.0.50:10.77.0.1:');
    expect(line).toContain(`BOOTIF=01-${MAC.replace(/:/g, '-')}`);
    // pxe_interface tap0: TFTP on its address, DHCP on the wildcard (broadcasts), replies from tap0's address.
    expect(out()).toContain(`TFTP ${tftpRoot} on 10.77.0.1:69`);
    expect(out()).toContain(
      'DHCP (full) on 0.0.0.0:67 (all interfaces hear broadcasts; replies leave from 10.77.0.1 on pxe_interface tap0)',
    );
    expect(out()).toMatch(new RegExp(`ack ${MAC} 10\\.77\\.0\\.50 pxelinux\\.0`));
    expect(out()).toMatch(
      new RegExp(`complete 10\\.77\\.0\\.50:\\d+ pxelinux\\.cfg/01-${MAC.replace(/:/g, '-')} \\d+ bytes`),
    );
    expect(out()).toMatch(
      new RegExp(`complete 10\\.77\\.0\\.50:\\d+ ${tftpRoot}/${INSTANCE}/deploy_ramdisk \\d+ bytes`),
    );
    await eventually(async () =>
      expect(await ds.getRepository(BmDhcpReservation).findOneBy({ mac: MAC })).toMatchObject({
        address: '10.77.0.50',
        active: true,
      }),
    );
  }, 150_000);

  it('activate_boot, then the same VM boots the instance kernel with root=UUID at the same address', async () => {
    await call('activate_boot', { node: nodeId, root_uuid: ROOT_UUID });
    const line = await pxeBootVm(ns!, MAC, join(work, 'instance-boot.log'));
    expect(line).toContain(`initrd=${tftpRoot}/${INSTANCE}/ramdisk root=UUID=${ROOT_UUID} ro console=ttyS0`);
    expect(line).not.toContain('deployment_key');
    // Nova's boot label has no ipappend: the address shows in our DHCP log, once per boot.
    expect(out().match(new RegExp(`ack ${MAC} 10\\.77\\.0\\.50 `, 'g'))).toHaveLength(2);
  }, 150_000);

  it("clean removes the node's PXE files", async () => {
    await call('clean', { node: nodeId });
    await expect(lstat(join(tftpRoot, 'pxelinux.cfg', `01-${MAC.replace(/:/g, '-')}`))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(tftpRoot, INSTANCE))).rejects.toThrow(/ENOENT/);
  });

  it('leaves no namespace behind', async () => {
    await ns!.destroy();
    ns = undefined;
    expect(testNamespaces()).toEqual(namespacesBefore);
  });
});
