import type { NetbootClient, PowerClient, PxeCheck } from '@bm/contracts';
import { normalizeMac, parseBmcAddress } from '@bm/domain';
import type { NodeView } from '@bm/enrollment';
import { errorLine } from './node-power';

/** The flavor extra specs that name a deploy kernel and ramdisk (compute's boot-images.ts reads the same). */
export const DEPLOY_KERNEL_SPEC = 'baremetal:deploy_kernel_id';
export const DEPLOY_RAMDISK_SPEC = 'baremetal:deploy_ramdisk_id';

/** One line of `bmctl node validate`. */
export interface ValidateRow {
  check: string;
  result: 'pass' | 'fail';
  reason: string;
}

/** Where a deploy kernel and ramdisk may be named: `[baremetal] deploy_*`, or a flavor's extra specs. */
export interface DeploySources {
  config: { deploy_kernel: string; deploy_ramdisk: string };
  flavors: { name: string; extra_specs: Record<string, string> }[];
}

export interface ValidatePorts {
  /** Other live nodes holding a MAC of node `id` (NodeRepository.macClashes). */
  macClashes(id: number): Promise<{ address: string; node_id: number }[]>;
  deploySources(): Promise<DeploySources>;
  power(host: string): Pick<PowerClient, 'getPowerState'>;
  netboot(host: string): Pick<NetbootClient, 'validatePxe'>;
}

const row = (check: string, ok: boolean, reason: string): ValidateRow => ({
  check,
  result: ok ? 'pass' : 'fail',
  reason,
});

/**
 * `bmctl node validate NODE`: could this node be deployed now? One line per check, each pass or
 * fail with its reason:
 *
 *   fields         what a deploy needs is there: CPUs, memory, disk, BMC address, a MAC, a host
 *   macs           no other live node has one of its MACs (compared case-insensitively)
 *   bmc            its power service reads the power state through the BMC with the stored
 *                  credentials (get_power_state: the password never leaves the service)
 *   deploy-images  a deploy kernel and ramdisk are named (`[baremetal] deploy_kernel` and
 *                  `deploy_ramdisk`, or a flavor's baremetal:deploy_*_id), and netboot finds them
 *   tftp-root, bootfile, image-cache
 *                  netboot's own checks of its host (validate_pxe): it could write the PXE files
 */
export class ValidateNode {
  constructor(private readonly ports: ValidatePorts) {}

  async run(n: NodeView, defaultHost: string): Promise<ValidateRow[]> {
    const host = n.service_host ?? defaultHost;
    const rows = [this.fields(n), await this.macs(n), await this.bmc(n, host)];
    const deploy = await this.deployImages();
    let pxe: PxeCheck[];
    try {
      pxe = (await this.ports.netboot(host).validatePxe(n.id, deploy.ids)).checks;
    } catch (e) {
      pxe = [{ check: 'pxe', ok: false, reason: `netboot of host ${host} did not answer: ${errorLine(e)}` }];
    }
    const found = pxe.find((c) => c.check === 'deploy-images');
    if (!deploy.ids.length || deploy.problem) rows.push(row('deploy-images', false, deploy.problem ?? deploy.source));
    else if (found) rows.push(row('deploy-images', found.ok, `${deploy.source}: ${found.reason}`));
    else rows.push(row('deploy-images', true, `${deploy.source} (not looked up: netboot did not answer)`));
    rows.push(...pxe.filter((c) => c.check !== 'deploy-images').map((c) => row(c.check, c.ok, c.reason)));
    return rows;
  }

  private fields(n: NodeView): ValidateRow {
    const missing: string[] = [];
    for (const f of ['cpus', 'memory_mb', 'local_gb'] as const) if (!n[f] || n[f]! < 1) missing.push(f);
    if (!n.pm_address) missing.push('pm_address');
    else if (typeof parseBmcAddress(n.pm_address) === 'string')
      missing.push(`pm_address (${parseBmcAddress(n.pm_address) as string})`);
    if (!n.interfaces.some((i) => i.address)) missing.push('a MAC address');
    if (!n.uuid) missing.push('uuid');
    if (missing.length) return row('fields', false, `missing or invalid: ${missing.join(', ')}`);
    const notes = [
      `${n.cpus} CPUs, ${n.memory_mb} MB, ${n.local_gb} GB`,
      `BMC ${n.pm_address}${n.pm_user ? ` as ${n.pm_user}` : ' (no user)'}${n.pm_password ? '' : ', no password stored'}`,
      n.cpu_arch ? `arch ${n.cpu_arch}` : "no cpu_arch (the host's extra specs apply)",
    ];
    return row('fields', true, notes.join('; '));
  }

  private async macs(n: NodeView): Promise<ValidateRow> {
    const macs = n.interfaces.map((i) => i.address).filter((a): a is string => !!a);
    if (!macs.length) return row('macs', false, 'no MAC address: the node cannot PXE-boot');
    const bad = macs.filter((m) => !normalizeMac(m));
    if (bad.length) return row('macs', false, `not a MAC address: ${bad.join(', ')}`);
    const clashes = await this.ports.macClashes(n.id);
    if (clashes.length)
      return row('macs', false, clashes.map((c) => `${c.address} is also on live node ${c.node_id}`).join('; '));
    return row('macs', true, `${macs.join(', ')} on no other live node`);
  }

  private async bmc(n: NodeView, host: string): Promise<ValidateRow> {
    if (!n.pm_address) return row('bmc', false, 'no BMC address');
    try {
      const r = await this.ports.power(host).getPowerState(n.id);
      return row('bmc', true, `power ${r.power_state}: BMC ${n.pm_address} answered with the stored credentials`);
    } catch (e) {
      return row('bmc', false, `BMC ${n.pm_address} through the power service of host ${host}: ${errorLine(e)}`);
    }
  }

  /** The deploy kernel and ramdisk ids a deploy of this node could use, and where they are named. */
  private async deployImages(): Promise<{ ids: string[]; source: string; problem?: string }> {
    const { config, flavors } = await this.ports.deploySources();
    const ids: string[] = [];
    const sources: string[] = [];
    const problems: string[] = [];
    const add = (kernel: string, ramdisk: string, where: string) => {
      for (const id of [kernel, ramdisk]) if (!ids.includes(id)) ids.push(id);
      sources.push(where);
    };
    if (config.deploy_kernel && config.deploy_ramdisk)
      add(config.deploy_kernel, config.deploy_ramdisk, '[baremetal] deploy_kernel/deploy_ramdisk');
    else if (config.deploy_kernel || config.deploy_ramdisk)
      problems.push(`[baremetal] names only ${config.deploy_kernel ? 'deploy_kernel' : 'deploy_ramdisk'}`);
    for (const f of flavors) {
      const k = f.extra_specs[DEPLOY_KERNEL_SPEC];
      const r = f.extra_specs[DEPLOY_RAMDISK_SPEC];
      if (k && r) add(k, r, `flavor ${f.name}`);
      else if (k || r) problems.push(`flavor ${f.name} names only ${k ? DEPLOY_KERNEL_SPEC : DEPLOY_RAMDISK_SPEC}`);
    }
    if (!sources.length && !problems.length)
      problems.push(
        'no deploy kernel and ramdisk: set [baremetal] deploy_kernel and deploy_ramdisk, ' +
          `or a flavor's ${DEPLOY_KERNEL_SPEC} and ${DEPLOY_RAMDISK_SPEC}`,
      );
    return {
      ids,
      source: `named by ${sources.join(', ')}`,
      problem: problems.length ? problems.join('; ') : undefined,
    };
  }
}
