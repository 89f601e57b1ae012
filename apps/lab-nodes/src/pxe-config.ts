/**
 * What a simulated node reads from a pxelinux config, as pxelinux and the seed's deploy ramdisk
 * read it: the labels (kernel, append, initrd, ipappend), the default label, the kernel command
 * line pxelinux builds for a label (append, then `ip=` and `BOOTIF=` for `ipappend 1|2|3`), and
 * the parameters the ramdisk takes from that command line (diskimage-builder's `deploy` element:
 * deployment_id, deployment_key, iscsi_target_iqn, troubleshoot, the boot address and server from
 * `ip=`, the MAC from `BOOTIF=`). Pure: no I/O.
 */

export interface PxeLabel {
  name: string;
  /** `kernel` (or `linux`) path, as written. */
  kernel?: string;
  /** `append` line, as written ('' when none). */
  append: string;
  /** `initrd` keyword (files added to the append's `initrd=`). */
  initrd?: string;
  /** `ipappend` / `sysappend` bits: 1 = `ip=`, 2 = `BOOTIF=`. */
  ipappend: number;
}

export interface PxelinuxConfig {
  /** The `default` label's name. */
  default?: string;
  /** By name, in the order they appear. */
  labels: Map<string, PxeLabel>;
}

/** Parses a pxelinux config (keywords case-insensitive, `#` comments, indentation ignored). */
export function parsePxelinuxConfig(text: string): PxelinuxConfig {
  const cfg: PxelinuxConfig = { labels: new Map() };
  let current: PxeLabel | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
    const keyword = m[1].toLowerCase();
    const value = (m[2] ?? '').trim();
    switch (keyword) {
      case 'default':
        cfg.default = value.split(/\s+/)[0];
        break;
      case 'label':
        current = { name: value, append: '', ipappend: 0 };
        cfg.labels.set(value, current);
        break;
      case 'kernel':
      case 'linux':
        if (current) current.kernel = value;
        break;
      case 'append':
        if (current) current.append = value === '-' ? '' : value;
        break;
      case 'initrd':
        if (current) current.initrd = value;
        break;
      case 'ipappend':
      case 'sysappend':
        if (current) current.ipappend = Number.parseInt(value, 10) || 0;
        break;
      default:
        break; // prompt, timeout, menu…: nothing a node needs here
    }
  }
  return cfg;
}

/** The label pxelinux boots: the default one. Throws naming what is missing. */
export function defaultLabel(cfg: PxelinuxConfig): PxeLabel {
  if (!cfg.default) throw new Error('the PXE config has no default label');
  const label = cfg.labels.get(cfg.default);
  if (!label) throw new Error(`the PXE config's default label ${JSON.stringify(cfg.default)} is not defined`);
  if (!label.kernel) throw new Error(`label ${label.name} names no kernel`);
  return label;
}

/** The files pxelinux fetches for a label: the kernel, then each initrd (`initrd=a,b` and the initrd keyword). */
export function labelFiles(label: PxeLabel): string[] {
  const fromAppend = /(?:^|\s)initrd=(\S+)/.exec(label.append)?.[1];
  const initrds = [...(label.initrd ? [label.initrd] : []), ...(fromAppend ? fromAppend.split(',') : [])];
  return [...(label.kernel ? [label.kernel] : []), ...initrds.filter(Boolean)];
}

/** The node's network as pxelinux knows it after DHCP (for `ipappend`). */
export interface BootNetwork {
  /** The node's address (DHCP yiaddr). */
  address: string;
  /** The boot server (siaddr, next-server). */
  server: string;
  /** The gateway (option 3), '0.0.0.0' when none. */
  gateway?: string;
  netmask: string;
  mac: string;
}

/** `BOOTIF=01-<mac, lower case, dashes>` (hardware type 1, Ethernet). */
export function bootif(mac: string): string {
  return `01-${mac.toLowerCase().replace(/:/g, '-')}`;
}

/** The kernel command line pxelinux passes for `label`: its append, then `ip=` (ipappend 1) and `BOOTIF=` (2). */
export function kernelCommandLine(label: PxeLabel, net: BootNetwork): string {
  const parts = label.append ? [label.append] : [];
  if (label.ipappend & 1) parts.push(`ip=${net.address}:${net.server}:${net.gateway ?? '0.0.0.0'}:${net.netmask}`);
  if (label.ipappend & 2) parts.push(`BOOTIF=${bootif(net.mac)}`);
  return parts.join(' ');
}

/** A kernel parameter's value (the last one given, as the seed's get_kernel_parameter), or undefined. */
export function kernelParameter(cmdline: string, name: string): string | undefined {
  let found: string | undefined;
  for (const word of cmdline.split(/\s+/)) if (word.startsWith(`${name}=`)) found = word.slice(name.length + 1);
  return found;
}

/** What the seed's deploy ramdisk reads from its command line. */
export interface DeployParameters {
  deploymentId: number;
  deploymentKey: string;
  iscsiTargetIqn: string;
  troubleshoot: boolean;
  /** `ip=`'s first field: the address the ramdisk exports from and sends as `a=`. */
  bootAddress: string;
  /** `ip=`'s second field: where the callback goes (`http://<it>:10000`). */
  bootServer: string;
  netmask: string;
  /** From `BOOTIF=` (type byte dropped, colons). */
  mac?: string;
}

/**
 * The deploy label's parameters, as the ramdisk's init takes them; throws naming every one
 * missing (the seed's err_msg "… is not defined").
 */
export function deployParameters(cmdline: string): DeployParameters {
  const get = (n: string) => kernelParameter(cmdline, n);
  const ip = (get('ip') ?? '').split(':');
  const missing = ['deployment_id', 'deployment_key', 'iscsi_target_iqn'].filter((n) => !get(n));
  if (!ip[0] || !ip[1]) missing.push('ip');
  if (missing.length) throw new Error(`${missing.join(', ')} not defined on the kernel command line`);
  const id = Number(get('deployment_id'));
  if (!Number.isSafeInteger(id) || id < 1) throw new Error(`deployment_id ${get('deployment_id')} is not a node id`);
  const boot = get('BOOTIF');
  return {
    deploymentId: id,
    deploymentKey: get('deployment_key')!,
    iscsiTargetIqn: get('iscsi_target_iqn')!,
    troubleshoot: get('troubleshoot') === '1',
    bootAddress: ip[0],
    bootServer: ip[1],
    netmask: ip[3] ?? '',
    ...(boot
      ? {
          mac: boot
            .replace(/^[0-9a-f]{2}-/i, '')
            .replace(/-/g, ':')
            .toLowerCase(),
        }
      : {}),
  };
}

/** `root=UUID=<uuid>` of an instance's command line, or undefined (another root= or none). */
export function rootUuidOf(cmdline: string): string | undefined {
  const root = kernelParameter(cmdline, 'root');
  return root?.startsWith('UUID=') ? root.slice('UUID='.length) : undefined;
}
