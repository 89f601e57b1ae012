import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Netns,
  bootNetwork,
  bootWorkspace,
  prepareTestDeploy,
  pxeBootVm,
  serveInNamespace,
  testNamespaces,
} from '../../support/netns';

// ProxyDHCP (PXE 2.1), for a boot network that already has a DHCP server: dnsmasq hands out the
// addresses (no boot options), our DHCP server in proxy mode (libs/dhcp via scripts/netboot/serve.ts,
// on another host of the segment) adds only the PXE answer: next-server, pxelinux.0, on 67 and 4011.
// A QEMU VM (TCG, the iPXE ROM) merges both, TFTPs pxelinux.0 and its 01-<mac> config from us and
// boots the deploy kernel and initramfs of Nova's config (libs/pxe); the initramfs prints its
// command line. The service-level boot (full DHCP, driven over RPC) is
// apps/netboot/test/netboot-pxe.e2e.spec.ts.
const MAC = '52:54:00:77:00:20';
const INSTANCE = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';

describe('proxy-DHCP: dnsmasq gives the address, we give the boot', () => {
  let work: string;
  let net: Netns | undefined;
  let host: Netns | undefined;
  let log: Record<string, unknown>[] = [];
  const before = testNamespaces();

  beforeAll(async () => {
    const boot = await bootWorkspace('pxe-proxy');
    work = boot.work;
    await prepareTestDeploy(boot, { instanceUuid: INSTANCE, nodeId: 42, mac: MAC });

    // The segment: bridge br0 (10.77.0.1, dnsmasq as the network's DHCP server) with the VM's tap
    // and a veth to our host (10.77.0.2).
    net = await bootNetwork('proxy', work, {
      bridge: true,
      dnsmasqArgs: [
        '--no-ping',
        '--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h',
        `--dhcp-leasefile=${join(work, 'leases')}`,
        '--log-dhcp',
      ],
    });
    host = Netns.create('proxysrv');
    net.veth('v-ours', host, 'eth0');
    net.ip('link', 'set', 'v-ours', 'master', 'br0');
    net.ip('link', 'set', 'v-ours', 'up');
    host.addAddress('eth0', '10.77.0.2/24', true);
    log = (
      await serveInNamespace(
        host,
        { MODE: 'proxy', ADDRESS: '10.77.0.2', RANGE: '10.77.0.2,10.77.0.2', MACS: MAC, TFTP_ROOT: boot.tftpRoot },
        join(work, 'ready'),
      )
    ).log;
  }, 320_000);

  afterAll(async () => {
    await net?.destroy();
    await host?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the VM boots the deploy ramdisk with an address from dnsmasq and pxelinux.0, config and images from us', async () => {
    const line = await pxeBootVm(net!, MAC, join(work, 'serial.log'));
    expect(line).toContain(`iscsi_target_iqn=iqn-${INSTANCE} deployment_id=42`);
    // ipappend 3: the address is dnsmasq's, the boot server (next-server) is ours.
    expect(line).toMatch(/ip=10\.77\.0\.1\d\d:10\.77\.0\.2:/);
    expect(line).toContain('BOOTIF=01-52-54-00-77-00-20');
  }, 150_000);

  it('we answered as ProxyDHCP only: PXE offers without an address; the REQUEST to dnsmasq left alone', () => {
    // iPXE boots from a ProxyDHCP offer that names the boot file without a port-4011 REQUEST
    // (the 4011 ACK path is covered by responder.spec.ts).
    const proxy = log.filter((l) => l.proxy === true && (l.dhcp === 'offer' || l.dhcp === 'ack'));
    expect(proxy.map((l) => `${l.message}->${l.dhcp}`)).toContain('DISCOVER->offer');
    expect(proxy.every((l) => l.ip === undefined && l.bootfile === 'pxelinux.0')).toBe(true);
    expect(log.filter((l) => l.dhcp === 'ack' && !l.proxy)).toEqual([]);
    expect(log.filter((l) => l.tftp && l.outcome === 'complete').map((l) => l.tftp)).toEqual(
      expect.arrayContaining(['pxelinux.0', 'pxelinux.cfg/01-52-54-00-77-00-20']),
    );
  });

  it('leaves no namespace behind', async () => {
    await net!.destroy();
    await host!.destroy();
    net = host = undefined;
    expect(testNamespaces()).toEqual(before);
  });
});
