/**
 * The same two boot choices as an iPXE script, for iPXE clients booting over HTTP instead of
 * pxelinux over TFTP. `baseUrl` serves the instance's directory (`…/<instance_uuid>/`).
 */
import { DEFAULT_APPEND_PARAMS, ROOT_PLACEHOLDER, type PxeConfigInput } from './config';

export function renderIpxeScript(i: Omit<PxeConfigInput, 'tftpRoot'> & { baseUrl: string }): string {
  const base = i.baseUrl.replace(/\/+$/, '');
  const params = i.appendParams ?? DEFAULT_APPEND_PARAMS;
  return [
    '#!ipxe',
    'goto deploy',
    '',
    ':deploy',
    `kernel ${base}/deploy_kernel selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${i.instanceUuid} deployment_id=${i.nodeId} deployment_key=${i.deployKey} troubleshoot=0 ${params} BOOTIF=01-\${netX/mac:hexhyp} ip=\${netX/ip}:\${next-server}:\${netX/gateway}:\${netX/netmask}`,
    `initrd ${base}/deploy_ramdisk`,
    'boot',
    '',
    ':boot',
    `kernel ${base}/kernel root=${ROOT_PLACEHOLDER} ro ${params}`,
    `initrd ${base}/ramdisk`,
    'boot',
    '',
  ].join('\n');
}

/** Switches an iPXE script to the `boot` entry with the root filesystem's UUID. */
export function switchIpxeToBoot(script: string, rootUuid: string): string {
  return script
    .split(ROOT_PLACEHOLDER)
    .join(`UUID=${rootUuid}`)
    .replace(/^goto deploy$/m, 'goto boot');
}
