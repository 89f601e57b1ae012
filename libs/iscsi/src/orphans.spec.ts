import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dying, exportMountpoint, parentOf, storageDaemons } from './orphans';

describe('orphaned storage daemons', () => {
  it('reads the parent from /proc/PID/status (its stat can block on a process stuck in the kernel)', () => {
    expect(parentOf('Name:\tqemu-storage-d\nState:\tS (sleeping)\nTgid:\t4242\nPPid:\t1\n')).toBe(1);
    expect(parentOf('Name:\ta (b) c\nPPid:\t4100\nTracerPid:\t0\n')).toBe(4100);
    expect(parentOf('')).toBeUndefined();
  });

  it('finds the FUSE export mount point, QEMU doubled commas undone', () => {
    const args = [
      '--blockdev',
      'driver=iscsi,node-name=lun',
      '--export',
      'type=fuse,id=lun0,node-name=lun,mountpoint=/tmp/a,,b/lun.raw,writable=on',
    ];
    expect(exportMountpoint(args)).toBe('/tmp/a,b/lun.raw');
    expect(exportMountpoint(['--export', 'type=nbd,id=x'])).toBeUndefined();
  });

  it('a parent on its way out: a zombie leader, or SIGKILL pending', () => {
    expect(dying('Name:\tnode\nState:\tZ (zombie)\n')).toBe(true);
    expect(dying('Name:\tnode\nState:\tD (disk sleep)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\n')).toBe(
      true,
    );
    expect(dying('Name:\tnode\nState:\tS (sleeping)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000004000\n')).toBe(
      false,
    );
  });

  describe('in a process table', () => {
    let proc: string;
    const daemon = (pid: number, ppid: number, mountpoint: string) => {
      mkdirSync(join(proc, String(pid)));
      const argv = [
        'qemu-storage-daemon',
        '--blockdev',
        'driver=iscsi',
        '--export',
        `type=fuse,id=lun0,mountpoint=${mountpoint},writable=on`,
      ];
      writeFileSync(join(proc, String(pid), 'cmdline'), argv.join('\0') + '\0');
      writeFileSync(join(proc, String(pid), 'status'), `Name:\tqemu-storage-d\nState:\tS (sleeping)\nPPid:\t${ppid}\n`);
    };
    const parent = (pid: number, comm: string, state: string) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), 'comm'), `${comm}\n`);
      writeFileSync(join(proc, String(pid), 'status'), `Name:\t${comm}\nState:\t${state}\nSigPnd:\t0\nShdPnd:\t0\n`);
    };
    beforeEach(() => {
      proc = mkdtempSync(join(tmpdir(), 'proc-'));
    });
    afterEach(() => rmSync(proc, { recursive: true, force: true }));

    it('only ours (bm-iscsi-* under the root), orphaned unless a running node process started it', async () => {
      parent(100, 'node', 'S (sleeping)');
      parent(200, 'node', 'Z (zombie)');
      parent(300, 'tini', 'S (sleeping)');
      daemon(101, 100, '/tmp/bm-iscsi-aaa/lun.raw'); // its deploy helper runs
      daemon(201, 200, '/tmp/bm-iscsi-bbb/lun.raw'); // SIGKILLed, stuck in a write
      daemon(301, 300, '/tmp/bm-iscsi-ccc/lun.raw'); // reparented to a subreaper
      daemon(401, 1, '/tmp/bm-iscsi-ddd/lun.raw'); // reparented to init
      daemon(501, 1, '/srv/other/lun.raw'); // not ours
      mkdirSync(join(proc, '601'));
      writeFileSync(join(proc, '601', 'cmdline'), ['sleep', '100', ''].join('\0'));
      const found = await storageDaemons(proc, 'qemu-storage-daemon', '/tmp');
      expect(found.map((d) => [d.pid, d.orphaned]).sort()).toEqual([
        [101, false],
        [201, true],
        [301, true],
        [401, true],
      ]);
    });
  });
});
