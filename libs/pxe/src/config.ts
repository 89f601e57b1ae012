/**
 * The pxelinux config of Nova's baremetal PXE driver (pxe_config.template, Havana/Icehouse),
 * rendered byte for byte: a `deploy` label that boots the deploy ramdisk with the deployment's
 * id and key, and a `boot` label for the instance with a literal `${ROOT}` placeholder that the
 * deploy helper replaces once it knows the root filesystem's UUID.
 */
import { posix } from 'node:path';
import { DEPLOY_KEY_PATTERN } from './deploy-key';

export const ROOT_PLACEHOLDER = '${ROOT}';
export const DEFAULT_APPEND_PARAMS = 'nofb nomodeset vga=normal';

/** Where an instance's boot files live: `<tftp_root>/<instance_uuid>/…` (absolute paths). */
export interface PxePaths {
  dir: string;
  config: string;
  kernel: string;
  ramdisk: string;
  deployKernel: string;
  deployRamdisk: string;
}

export function pxePaths(tftpRoot: string, instanceUuid: string): PxePaths {
  if (!/^[0-9a-f-]{36}$/i.test(instanceUuid)) throw new RangeError(`'${instanceUuid}' is not an instance UUID`);
  const dir = posix.join(tftpRoot, instanceUuid);
  return {
    dir,
    config: posix.join(dir, 'config'),
    kernel: posix.join(dir, 'kernel'),
    ramdisk: posix.join(dir, 'ramdisk'),
    deployKernel: posix.join(dir, 'deploy_kernel'),
    deployRamdisk: posix.join(dir, 'deploy_ramdisk'),
  };
}

/** `pxelinux.cfg/01-<mac, lower case, dashes>`: what pxelinux asks for first. */
export function macConfigName(mac: string): string {
  return `01-${mac.toLowerCase().replace(/:/g, '-')}`;
}

export interface NetworkConfig {
  address: string;
  gateway: string;
  netmask: string;
}

export interface PxeConfigInput {
  tftpRoot: string;
  instanceUuid: string;
  /** bm_nodes.id: `deployment_id`, the `i` of the deploy callback. */
  nodeId: number;
  /** The deployment's 32-character key: `deployment_key`, the `k` of the callback. */
  deployKey: string;
  /** `[baremetal] pxe_append_params`. */
  appendParams?: string;
  /** `pxe_network_config`: static `ip=` arguments for the instance, one per interface (eth0…). */
  network?: NetworkConfig[];
}

export function renderPxeConfig(i: PxeConfigInput): string {
  if (!DEPLOY_KEY_PATTERN.test(i.deployKey)) throw new RangeError('a deploy key is 32 characters A-Z0-9');
  const p = pxePaths(i.tftpRoot, i.instanceUuid);
  const params = i.appendParams ?? DEFAULT_APPEND_PARAMS;
  const ip = (i.network ?? []).map((n, k) => ` ip=${n.address}::${n.gateway}:${n.netmask}::eth${k}:off`).join('');
  return [
    'default deploy',
    '',
    'label deploy',
    `kernel ${p.deployKernel}`,
    `append initrd=${p.deployRamdisk} selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${i.instanceUuid} deployment_id=${i.nodeId} deployment_key=${i.deployKey} troubleshoot=0 ${params}`,
    'ipappend 3',
    '',
    '',
    'label boot',
    `kernel ${p.kernel}`,
    `append initrd=${p.ramdisk} root=${ROOT_PLACEHOLDER} ro ${params}${ip}`,
    '',
  ].join('\n');
}

/**
 * The deploy helper's switch_pxe_config: every `${ROOT}` becomes `UUID=<root uuid>` and every
 * `default …` line `default boot`, so the node's next PXE boot starts the instance.
 */
export function switchToBoot(config: string, rootUuid: string): string {
  if (!/^[0-9a-f-]{8,36}$/i.test(rootUuid)) throw new RangeError(`'${rootUuid}' is not a filesystem UUID`);
  return config
    .split(ROOT_PLACEHOLDER)
    .join(`UUID=${rootUuid}`)
    .replace(/^default .*$/gm, 'default boot');
}
