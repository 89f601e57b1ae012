import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeUdpPort, ipmitool } from '../../../test/peers/ipmi/harness';
import { eventually } from '../../../test/support/amqp';
import { BMCTL, ROOT, requireBuilt } from '../../../test/support/bmctl';
import { completeLines } from '../../../test/support/lines';
import {
  BOOT_MARKER,
  type Netns,
  bootNetwork,
  bootWorkspace,
  prepareTestDeploy,
  serveInNamespace,
  stop,
} from '../../../test/support/netns';

// A lab node as the power service sees it: `bmctl vbmc start --qemu-mac …` is a virtual BMC whose
// machine is a QEMU VM (its tap in a boot network namespace). The real ipmitool sets PXE for the
// next boot and powers it on; the VM PXE-boots from our DHCP + TFTP (scripts/netboot/serve.ts)
// into the test initramfs, which powers the VM off again, and the chassis reads off.
const run = promisify(execFile);
const PASSWORD = 'lab-bmc-pw';
const MAC = '52:54:00:b3:00:51';

describe('bmctl vbmc start --qemu-mac: IPMI drives a real VM', () => {
  let ns: Netns;
  let work: string;
  let vbmc: ChildProcess;
  let events = '';
  let port: number;
  const ipmi = (...a: string[]) => ipmitool(a, { port, password: PASSWORD });

  beforeAll(async () => {
    requireBuilt();
    const boot = await bootWorkspace('vbmc-qemu');
    work = boot.work;
    await prepareTestDeploy(boot, { instanceUuid: '5d0c7a10-2b8e-4f3e-9a51-7c3e2d1f0b9a', nodeId: 7, mac: MAC });
    ns = await bootNetwork('vbmc', work);
    await serveInNamespace(
      ns,
      { ADDRESS: '10.77.0.1', RANGE: '10.77.0.50,10.77.0.99', MACS: MAC, TFTP_ROOT: boot.tftpRoot },
      join(work, 'ready'),
    );

    port = await freeUdpPort();
    await writeFile(join(work, 'pw'), PASSWORD, { mode: 0o600 });
    // The BMC listens on the host's loopback (where the power service is); only its VM is in the namespace.
    vbmc = spawn(
      BMCTL,
      [
        'vbmc',
        'start',
        '--port',
        String(port),
        '--user',
        'admin',
        '--password-file',
        join(work, 'pw'),
        '--qemu-mac',
        MAC,
        '--qemu-netns',
        ns.name,
        '--qemu-tap',
        'tap0',
        '--qemu-console',
        join(work, 'console.log'),
        '--qemu-log',
        join(work, 'qemu.log'),
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH! } },
    );
    vbmc.stdout!.on('data', (d) => (events += d));
    vbmc.stderr!.on('data', (d) => (events += d));
    await eventually(() => expect(events).toContain(`virtual BMC listening on 127.0.0.1:${port}`), 10_000, 100);
  }, 320_000);

  afterAll(async () => {
    if (vbmc) await stop(vbmc); // stops its VM too
    await ns?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('bootdev pxe + power on: the VM boots our deploy config, then powers itself off and the chassis reads off', async () => {
    expect((await ipmi('chassis', 'bootdev', 'pxe')).code).toBe(0);
    expect((await ipmi('chassis', 'power', 'on')).code).toBe(0);
    expect((await ipmi('chassis', 'power', 'status')).stdout.trim()).toBe('Chassis Power is on');
    const line = await eventually(
      async () => {
        // Whole lines only: QEMU may be in the middle of writing the marker's line.
        const l = completeLines(await readFile(join(work, 'console.log'), 'latin1').catch(() => '')).find((x) =>
          x.startsWith(BOOT_MARKER),
        );
        if (!l) throw new Error('no marker yet');
        return l;
      },
      100_000,
      250,
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}; console tail:\n${(await readFile(join(work, 'console.log'), 'latin1').catch(() => '')).slice(-1500)}\nqemu: ${await readFile(join(work, 'qemu.log'), 'utf8').catch(() => '')}`,
      );
    });
    expect(line).toContain('deployment_id=7');
    expect(line).toContain(`BOOTIF=01-${MAC.replace(/:/g, '-')}`);
    // The initramfs runs `poweroff -f`: the VM is gone, the chassis is off, the override used up.
    await eventually(
      async () => expect((await ipmi('chassis', 'power', 'status')).stdout.trim()).toBe('Chassis Power is off'),
      20_000,
      500,
    );
    expect((await ipmi('chassis', 'bootparam', 'get', '5')).stdout).toMatch(/Boot Device Selector : No override/);
  }, 150_000);

  it('power on without an override boots disk first (QEMU order=cn), and power off stops the VM at once', async () => {
    expect((await ipmi('chassis', 'power', 'on')).code).toBe(0);
    expect((await ipmi('chassis', 'power', 'status')).stdout.trim()).toBe('Chassis Power is on');
    const { stdout: vm } = await run('pgrep', ['-af', `mac=${MAC}`]);
    expect(vm).toContain('-boot order=cn');
    expect((await ipmi('chassis', 'power', 'off')).code).toBe(0);
    await expect(run('pgrep', ['-af', `mac=${MAC}`])).rejects.toThrow();
    expect((await ipmi('chassis', 'power', 'status')).stdout.trim()).toBe('Chassis Power is off');
    const powerEvents = () =>
      completeLines(events)
        .filter((l) => l.startsWith('{"at"') && l.includes('"op":"power"'))
        .map((l) => JSON.parse(l) as { action: string; after: string });
    await eventually(
      () => expect(powerEvents().map((e) => `${e.action}->${e.after}`)).toEqual(['on->on', 'on->on', 'off->off']),
      3000,
      100,
    );
  }, 30_000);
});
