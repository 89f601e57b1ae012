import type { PxeCheck, ValidatePxeResult } from '@bm/contracts';
import type { NodeView } from '@bm/enrollment';
import { MessagingTimeout, RemoteError } from '@bm/messaging';
import { type DeploySources, ValidateNode, type ValidatePorts, type ValidateRow } from './node-validate';

const K = '11111111-1111-4111-8111-111111111111';
const R = '22222222-2222-4222-8222-222222222222';

const NODE: NodeView = {
  id: 4,
  uuid: '00000000-0000-4000-8000-000000000004',
  service_host: 'cn1',
  cpus: 2,
  memory_mb: 2048,
  local_gb: 20,
  cpu_arch: 'x86_64',
  pm_address: '127.0.0.1:6231',
  pm_user: 'admin',
  pm_password: '******',
  terminal_port: null,
  instance_uuid: null,
  instance_name: null,
  task_state: null,
  maintenance: false,
  maintenance_reason: null,
  maintenance_at: null,
  created_at: null,
  updated_at: null,
  interfaces: [{ id: 1, address: '52:54:00:00:00:04', datapath_id: null, port_no: null, vif_uuid: null }],
};

const NETBOOT_OK: PxeCheck[] = [
  { check: 'tftp-root', ok: true, reason: 'tftp_root /tftpboot is writable' },
  { check: 'bootfile', ok: true, reason: '/tftpboot/pxelinux.0 (42137 bytes)' },
  { check: 'image-cache', ok: true, reason: '/tftpboot/master_images is writable' },
];

function ports(o: Partial<ValidatePorts> & { sources?: DeploySources; asked?: string[][] } = {}): ValidatePorts {
  return {
    macClashes: async () => [],
    deploySources: async () =>
      o.sources ?? {
        config: { deploy_kernel: K, deploy_ramdisk: R },
        flavors: [{ name: 'bm.small', extra_specs: {} }],
      },
    power: () => ({ getPowerState: async () => ({ node: NODE.uuid!, power_state: 'off' }) }),
    netboot: (host) => ({
      validatePxe: async (_n, ids = []): Promise<ValidatePxeResult> => {
        o.asked?.push([host, ...ids]);
        return {
          node: NODE.uuid!,
          host,
          checks: [
            ...NETBOOT_OK,
            ...(ids.length ? [{ check: 'deploy-images', ok: true, reason: `${K} active, ${R} active` }] : []),
          ],
        };
      },
    }),
    ...o,
  };
}
const lines = (rows: ValidateRow[]) => rows.map((r) => `${r.check} ${r.result}: ${r.reason}`);

describe('ValidateNode (bmctl node validate)', () => {
  it('a ready node: every check passes, each saying why', async () => {
    const asked: string[][] = [];
    expect(lines(await new ValidateNode(ports({ asked })).run(NODE, 'default-host'))).toEqual([
      'fields pass: 2 CPUs, 2048 MB, 20 GB; BMC 127.0.0.1:6231 as admin; arch x86_64',
      'macs pass: 52:54:00:00:00:04 on no other live node',
      'bmc pass: power off: BMC 127.0.0.1:6231 answered with the stored credentials',
      `deploy-images pass: named by [baremetal] deploy_kernel/deploy_ramdisk: ${K} active, ${R} active`,
      'tftp-root pass: tftp_root /tftpboot is writable',
      'bootfile pass: /tftpboot/pxelinux.0 (42137 bytes)',
      'image-cache pass: /tftpboot/master_images is writable',
    ]);
    expect(asked).toEqual([['cn1', K, R]]);
  });

  it('missing fields, a MAC on another node, a BMC refusing the stored password: fail lines', async () => {
    const bare: NodeView = { ...NODE, cpus: null, pm_address: 'not an address!', service_host: null, interfaces: [] };
    const p = ports({
      power: () => ({
        getPowerState: () =>
          Promise.reject(new RemoteError({ class: 'BmcAuthenticationFailed', message: 'wrong password' } as never)),
      }),
    });
    const rows = await new ValidateNode(p).run(bare, 'default-host');
    expect(lines(rows).slice(0, 3)).toEqual([
      "fields fail: missing or invalid: cpus, pm_address ('not an address!' is not an IP address or host name), a MAC address",
      'macs fail: no MAC address: the node cannot PXE-boot',
      'bmc fail: BMC not an address! through the power service of host default-host: BmcAuthenticationFailed: wrong password',
    ]);
    const clash = await new ValidateNode(
      ports({ macClashes: async () => [{ address: '52:54:00:00:00:04', node_id: 7 }] }),
    ).run(NODE, 'h');
    expect(lines(clash)[1]).toBe('macs fail: 52:54:00:00:00:04 is also on live node 7');
  });

  it('deploy images: from the flavors when the configuration names none; none at all, or half a pair, fails', async () => {
    const flavor = (name: string, k?: string, r?: string) => ({
      name,
      extra_specs: {
        ...(k ? { 'baremetal:deploy_kernel_id': k } : {}),
        ...(r ? { 'baremetal:deploy_ramdisk_id': r } : {}),
      },
    });
    const none = { deploy_kernel: '', deploy_ramdisk: '' };
    const asked: string[][] = [];
    const fromFlavors = await new ValidateNode(
      ports({ sources: { config: none, flavors: [flavor('a', K, R), flavor('b', K, R)] }, asked }),
    ).run(NODE, 'h');
    expect(lines(fromFlavors)[3]).toBe(`deploy-images pass: named by flavor a, flavor b: ${K} active, ${R} active`);
    expect(asked).toEqual([['cn1', K, R]]);
    const nothing = await new ValidateNode(ports({ sources: { config: none, flavors: [flavor('c')] } })).run(NODE, 'h');
    expect(lines(nothing)[3]).toBe(
      'deploy-images fail: no deploy kernel and ramdisk: set [baremetal] deploy_kernel and deploy_ramdisk, ' +
        "or a flavor's baremetal:deploy_kernel_id and baremetal:deploy_ramdisk_id",
    );
    const half = await new ValidateNode(
      ports({ sources: { config: { deploy_kernel: K, deploy_ramdisk: '' }, flavors: [flavor('d', undefined, R)] } }),
    ).run(NODE, 'h');
    expect(lines(half)[3]).toBe(
      'deploy-images fail: [baremetal] names only deploy_kernel; flavor d names only baremetal:deploy_ramdisk_id',
    );
  });

  it('what netboot says fails is a fail line; a netboot that does not answer is one', async () => {
    const broken = ports({
      netboot: () => ({
        validatePxe: async () => ({
          node: NODE.uuid!,
          host: 'cn1',
          checks: [
            { check: 'tftp-root', ok: false, reason: 'tftp_root /srv/tftp is not writable (EACCES)' },
            { check: 'deploy-images', ok: false, reason: `${K} is queued` },
          ],
        }),
      }),
    });
    expect(lines(await new ValidateNode(broken).run(NODE, 'h')).slice(3)).toEqual([
      `deploy-images fail: named by [baremetal] deploy_kernel/deploy_ramdisk: ${K} is queued`,
      'tftp-root fail: tftp_root /srv/tftp is not writable (EACCES)',
    ]);
    const silent = ports({
      netboot: () => ({ validatePxe: () => Promise.reject(new MessagingTimeout('no reply within 5 s')) }),
    });
    expect(lines(await new ValidateNode(silent).run(NODE, 'h')).slice(3)).toEqual([
      'deploy-images pass: named by [baremetal] deploy_kernel/deploy_ramdisk (not looked up: netboot did not answer)',
      'pxe fail: netboot of host cn1 did not answer: MessagingTimeout: no reply within 5 s',
    ]);
  });
});
