import { renderPxeConfig, switchToBoot } from '@bm/pxe';
import {
  bootif,
  defaultLabel,
  deployParameters,
  kernelCommandLine,
  labelFiles,
  parsePxelinuxConfig,
  rootUuidOf,
} from './pxe-config';

const INSTANCE = '0f6b7f3e-9a51-4f0e-8d2c-6a1f3c2b9e10';
const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const MAC = '52:54:00:83:00:01';
const NET = { address: '10.83.0.50', server: '10.83.0.1', netmask: '255.255.255.0', mac: MAC };
/** Nova's config as netboot writes it (libs/pxe), for node 7. */
const CONFIG = renderPxeConfig({ tftpRoot: '/tftpboot', instanceUuid: INSTANCE, nodeId: 7, deployKey: KEY });

describe('the PXE config as a simulated node reads it', () => {
  it('finds the deploy label by default, its kernel and initrd, ipappend 3', () => {
    const cfg = parsePxelinuxConfig(CONFIG);
    expect(cfg.default).toBe('deploy');
    expect([...cfg.labels.keys()]).toEqual(['deploy', 'boot']);
    const label = defaultLabel(cfg);
    expect(label).toMatchObject({ name: 'deploy', kernel: `/tftpboot/${INSTANCE}/deploy_kernel`, ipappend: 3 });
    expect(labelFiles(label)).toEqual([`/tftpboot/${INSTANCE}/deploy_kernel`, `/tftpboot/${INSTANCE}/deploy_ramdisk`]);
  });

  it("builds pxelinux's command line (ip= and BOOTIF= appended) and reads the ramdisk's parameters from it", () => {
    const cmdline = kernelCommandLine(defaultLabel(parsePxelinuxConfig(CONFIG)), NET);
    expect(cmdline).toMatch(
      / troubleshoot=0 nofb nomodeset vga=normal ip=10\.83\.0\.50:10\.83\.0\.1:0\.0\.0\.0:255\.255\.255\.0 BOOTIF=01-52-54-00-83-00-01$/,
    );
    expect(deployParameters(cmdline)).toEqual({
      deploymentId: 7,
      deploymentKey: KEY,
      iscsiTargetIqn: `iqn-${INSTANCE}`,
      troubleshoot: false,
      bootAddress: '10.83.0.50',
      bootServer: '10.83.0.1',
      netmask: '255.255.255.0',
      mac: MAC,
    });
  });

  it('after activate_boot: the boot label, root=UUID=, no ipappend', () => {
    const uuid = '5b1f2c1e-3d4a-4b5c-8d6e-7f8091a2b3c4';
    const label = defaultLabel(parsePxelinuxConfig(switchToBoot(CONFIG, uuid)));
    expect(label.name).toBe('boot');
    expect(labelFiles(label)).toEqual([`/tftpboot/${INSTANCE}/kernel`, `/tftpboot/${INSTANCE}/ramdisk`]);
    const cmdline = kernelCommandLine(label, NET);
    expect(cmdline).toBe(`initrd=/tftpboot/${INSTANCE}/ramdisk root=UUID=${uuid} ro nofb nomodeset vga=normal`);
    expect(rootUuidOf(cmdline)).toBe(uuid);
    expect(rootUuidOf(kernelCommandLine(defaultLabel(parsePxelinuxConfig(CONFIG)), NET))).toBeUndefined();
  });

  it('takes keywords in any case, comments, the initrd keyword, `linux`, a gateway; the last parameter wins', () => {
    const cfg = parsePxelinuxConfig(
      '# comment\nDEFAULT x\n  LABEL x\n  LINUX vmlinuz\n  INITRD a.img\n  APPEND initrd=b.img,c.img k=1 k=2\n  IPAPPEND 1\n',
    );
    const label = defaultLabel(cfg);
    expect(labelFiles(label)).toEqual(['vmlinuz', 'a.img', 'b.img', 'c.img']);
    expect(kernelCommandLine(label, { ...NET, gateway: '10.83.0.254' })).toBe(
      'initrd=b.img,c.img k=1 k=2 ip=10.83.0.50:10.83.0.1:10.83.0.254:255.255.255.0',
    );
  });

  it('names what is missing', () => {
    expect(() => defaultLabel(parsePxelinuxConfig('label a\nkernel k\n'))).toThrow('no default label');
    expect(() => defaultLabel(parsePxelinuxConfig('default b\nlabel a\nkernel k\n'))).toThrow('"b" is not defined');
    expect(() => defaultLabel(parsePxelinuxConfig('default a\nlabel a\n'))).toThrow('names no kernel');
    expect(() => deployParameters('deployment_id=3 ip=10.0.0.2:10.0.0.1:0.0.0.0:255.0.0.0')).toThrow(
      'deployment_key, iscsi_target_iqn not defined',
    );
    expect(() =>
      deployParameters(`deployment_id=x deployment_key=${KEY} iscsi_target_iqn=i ip=1.2.3.4:1.2.3.5`),
    ).toThrow('deployment_id x is not a node id');
  });

  it('BOOTIF is hardware type 01 and the MAC in lower case with dashes', () => {
    expect(bootif('52:54:00:AB:CD:EF')).toBe('01-52-54-00-ab-cd-ef');
  });
});
