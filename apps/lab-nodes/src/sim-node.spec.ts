import type { CommandRunner, RunResult } from '@bm/exec';
import type { DhcpExchangeOptions } from './pxe-dhcp';
import { type NodeEnvironment, SimNode, type SimNodeStatus } from './sim-node';

// The node's reaction to its power, without a network: DHCP that never answers (it waits until
// aborted), programs answered by a script (sfdisk, blkid, ip).
const result = (stdout: string, code = 0, stderr = ''): RunResult => ({
  code,
  signal: null,
  stdout,
  stderr,
  durationMs: 1,
});
const DISK = JSON.stringify({
  partitiontable: {
    sectorsize: 512,
    partitions: [
      { node: 'd1', start: 2048, size: 2048 },
      { node: 'd2', start: 4096, size: 8192 },
    ],
  },
});

function node(disk: 'deployed' | 'blank') {
  const ran: string[] = [];
  const runner = {
    run: async (program: string, args: readonly string[]) => {
      ran.push([program, ...args].join(' '));
      if (program === 'sfdisk')
        return disk === 'blank' ? result('', 1, 'd.img: does not contain a recognized partition table') : result(DISK);
      if (program === 'blkid')
        return args.includes('1048576') ? result('UUID=s-1\nTYPE=swap\n') : result('UUID=r-1\nTYPE=ext4\n');
      return result('');
    },
  } as unknown as CommandRunner;
  const env = {
    dhcp: {
      exchange: (_id: unknown, o: DhcpExchangeOptions) =>
        new Promise((_, reject) => o.signal!.addEventListener('abort', () => reject(o.signal!.reason as Error))),
    },
    tgtd: {},
    runner,
    interface: 'eth0',
    settings: {},
  } as unknown as NodeEnvironment;
  const n = new SimNode(
    {
      name: 'n1',
      mac: '52:54:00:83:00:01',
      bmc: { port: 0, user: 'admin', password: 'pw' },
      disk: { file: '/nonexistent/d.img', sizeBytes: 1 },
    },
    1,
    env,
  );
  const phases: string[] = [];
  n.on('phase', (s: SimNodeStatus) => phases.push(s.phase));
  return { n, phases, ran };
}

describe('a simulated node and its power', () => {
  it('power on starts a PXE boot; power off stops it (off); a reset starts over (rebooting, dhcp)', async () => {
    const { n, phases } = node('blank');
    n.machine.power('on');
    await new Promise((r) => setImmediate(r));
    expect(n.status()).toMatchObject({ power: 'on', phase: 'dhcp', boots: 1 });
    n.machine.power('reset');
    await new Promise((r) => setImmediate(r));
    n.machine.power('off');
    await n.settled();
    expect(phases).toEqual(['dhcp', 'rebooting', 'dhcp', 'off']);
    expect(n.status()).toMatchObject({ power: 'off', phase: 'off' });
    expect(n.status().history.map((h) => h.phase)).toEqual(['off', 'dhcp', 'rebooting', 'dhcp', 'off']);
  });

  it('boots from the disk when the BMC says so (next boot only), and fails when nothing is on it', async () => {
    const { n, phases } = node('blank');
    n.machine.setBootFlags({ device: 'disk', persistent: false, efi: false, valid: true });
    n.machine.power('on');
    await n.settled();
    expect(n.status()).toMatchObject({ phase: 'failed', error: expect.stringContaining('no root filesystem') });
    expect(n.machine.getBootFlags().valid).toBe(false); // used up
    n.machine.power('cycle');
    await new Promise((r) => setImmediate(r));
    expect(phases).toEqual(['failed', 'rebooting', 'dhcp']); // PXE now: the override is gone
    n.machine.power('off');
    await n.settled();
    expect(n.phase).toBe('off');
  });

  it('a node sitting in its booted instance goes off when powered off', async () => {
    const { n, phases, ran } = node('deployed');
    n.machine.setBootFlags({ device: 'disk', persistent: true, efi: false, valid: true });
    n.machine.power('on');
    await n.settled();
    expect(n.status()).toMatchObject({
      phase: 'booted-instance',
      instance: { rootUuid: 'r-1', partition: 2, from: 'disk' },
    });
    expect(ran).toEqual([
      'sfdisk -J /nonexistent/d.img',
      'blkid -p -O 1048576 -S 1048576 -o export /nonexistent/d.img',
      'blkid -p -O 2097152 -S 4194304 -o export /nonexistent/d.img',
    ]);
    n.machine.power('off');
    await n.settled();
    expect(phases).toEqual(['booted-instance', 'off']);
    expect(n.machine.getBootFlags().valid).toBe(true); // persistent: kept
  });
});
