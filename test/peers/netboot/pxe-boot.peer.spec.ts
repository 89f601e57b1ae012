import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PxeLayout, generateDeployKey } from '@bm/pxe';

// A real PXE boot, the seed's flow: a QEMU VM (TCG, its iPXE ROM) on a tap in a namespace of its
// own gets DHCP from our server (libs/dhcp), TFTPs pxelinux.0 (Debian's) and its 01-<mac> config
// from ours (libs/tftp), which is Nova's deploy config (libs/pxe); pxelinux boots the deploy
// kernel and initramfs named there (a Debian kernel, a busybox initramfs built by
// scripts/netboot/build-test-boot.sh) and the initramfs prints its command line.
const ROOT = resolve(__dirname, '../../..');
const run = promisify(execFile);
const MAC = '52:54:00:77:00:20';
const INSTANCE = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';

it('a VM PXE-boots through our DHCP and TFTP into the deploy ramdisk of its pxelinux config', async () => {
  const images = join(ROOT, '.cache/netboot');
  await run('bash', [join(ROOT, 'scripts/netboot/build-test-boot.sh'), images], { timeout: 300_000 });
  const tftpRoot = await mkdtemp(join(tmpdir(), 'pxe-root-'));
  for (const f of ['pxelinux.0', 'ldlinux.c32']) await copyFile(join(images, f), join(tftpRoot, f));
  const key = generateDeployKey();
  await new PxeLayout(tftpRoot).prepare({
    instanceUuid: INSTANCE, nodeId: 42, deployKey: key, macs: [MAC], appendParams: 'console=ttyS0 panic=1 quiet',
    images: { kernel: join(images, 'vmlinuz'), ramdisk: join(images, 'initrd.gz'), deployKernel: join(images, 'vmlinuz'), deployRamdisk: join(images, 'initrd.gz') },
  });
  const out = await mkdtemp(join(tmpdir(), 'pxe-out-'));
  const r = await run('bash', [join(ROOT, 'scripts/netboot/pxe-boot-test.sh'), tftpRoot, MAC, out, '100'], { timeout: 150_000 }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`PXE boot failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  });
  const marker = r.stdout.split('\n').find((l) => l.startsWith('NOVA-BM-TEST-INITRAMFS'))!;
  // The kernel command line is the deploy label of our config, plus what pxelinux's `ipappend 3`
  // adds from our DHCP lease: the reserved address, our next-server, the NIC's MAC.
  expect(marker).toContain(`initrd=${tftpRoot}/${INSTANCE}/deploy_ramdisk selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${INSTANCE} deployment_id=42 deployment_key=${key} troubleshoot=0`);
  expect(marker).toContain('ip=10.77.0.50:10.77.0.1:');
  expect(marker).toContain('BOOTIF=01-52-54-00-77-00-20');
  const log = (await readFile(join(out, 'servers.log'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(log.filter((l) => l.dhcp).map((l) => l.dhcp)).toEqual(expect.arrayContaining(['offer', 'ack']));
  expect(log.filter((l) => l.tftp && l.outcome === 'complete').map((l) => l.tftp)).toEqual(expect.arrayContaining([
    'pxelinux.0', 'ldlinux.c32', 'pxelinux.cfg/01-52-54-00-77-00-20', `${tftpRoot}/${INSTANCE}/deploy_kernel`, `${tftpRoot}/${INSTANCE}/deploy_ramdisk`,
  ]));
}, 300_000);
