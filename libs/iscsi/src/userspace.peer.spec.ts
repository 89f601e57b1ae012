import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CommandRunner } from '@bm/exec';
import { startTgt, type TgtTarget } from '../../../test/support/tgt';
import { IscsiLoginFailed, IscsiTargetNotFound, IscsiTargetUnreachable } from './errors';
import { isMountPoint, UserspaceAttacher } from './userspace';
import { freeTcpPort } from '../../../test/support/ports';

// The real tgtd (tgt 1.0.85) as the deploy ramdisk's target and the real qemu-storage-daemon
// (QEMU 7.2, libiscsi, FUSE export) as the initiator: no kernel iSCSI involved.
const runner = new CommandRunner();
const attacher = new UserspaceAttacher(runner, { readyTimeoutMs: 10_000 });

const mounted = (path: string) => isMountPoint(readFileSync('/proc/self/mountinfo', 'utf8'), path);

/** Pids of running qemu-storage-daemons whose argv mentions `text`. */
function daemonsWith(text: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return argv.startsWith('qemu-storage-daemon') && argv.includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Every process's argv that contains `secret`. */
function argvsWith(secret: string): string[] {
  const hits: string[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (argv.includes(secret)) hits.push(`${p}: ${argv.replace(/\0/g, ' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return hits;
}

describe('UserspaceAttacher with the real tgtd and qemu-storage-daemon', () => {
  describe('no authentication (the seed)', () => {
    let tgt: TgtTarget;
    beforeAll(async () => {
      tgt = await startTgt({ sizeBytes: 48 * 1024 * 1024 });
    });
    afterAll(() => tgt?.stop());

    it('attaches the LUN as a file of its size; a marker written there lands in the backing file', async () => {
      const lun = await attacher.attach(tgt);
      const dir = dirname(lun.path);
      try {
        expect(lun.sizeBytes).toBe(48 * 1024 * 1024);
        const st = await stat(lun.path);
        expect(st.isFile()).toBe(true);
        expect(st.size).toBe(48 * 1024 * 1024);
        expect(mounted(lun.path)).toBe(true);
        expect(daemonsWith(tgt.iqn)).toHaveLength(1);
        const marker = Buffer.from(`bm-iscsi-marker-${tgt.iqn}`);
        const f = await open(lun.path, 'r+');
        await f.write(marker, 0, marker.length, 7 * 1024 * 1024 + 123);
        await f.sync();
        await f.close();
      } finally {
        await lun.detach();
      }
      expect(mounted(lun.path)).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(daemonsWith(tgt.iqn)).toEqual([]);
      const back = await readFile(tgt.backingFile);
      const at = 7 * 1024 * 1024 + 123;
      expect(back.subarray(at, at + 60).toString()).toContain(`bm-iscsi-marker-${tgt.iqn}`);
      await expect(lun.detach()).resolves.toBeUndefined(); // twice is fine
    });

    it('a daemon that dies is reported through lost, and detach still cleans up', async () => {
      const lun = await attacher.attach(tgt);
      const [pid] = daemonsWith(tgt.iqn);
      process.kill(pid, 'SIGKILL');
      const lost = await lun.lost;
      expect(lost.name).toBe('IscsiSessionLost');
      expect(lost.message).toContain(tgt.iqn);
      await lun.detach();
      expect(mounted(lun.path)).toBe(false);
      expect(existsSync(dirname(lun.path))).toBe(false);
    });

    it('a wrong IQN or LUN is IscsiTargetNotFound, leaving nothing behind', async () => {
      await expect(attacher.attach({ ...tgt, iqn: `${tgt.iqn}-nope` })).rejects.toBeInstanceOf(IscsiTargetNotFound);
      await expect(attacher.attach({ ...tgt, lun: 2 })).rejects.toBeInstanceOf(IscsiTargetNotFound);
      expect(daemonsWith(tgt.iqn)).toEqual([]);
    });
  });

  it('a target that is not there is IscsiTargetUnreachable, quickly, and leaves no daemon or mount', async () => {
    const port = await freeTcpPort();
    const before = readFileSync('/proc/self/mountinfo', 'utf8');
    const started = Date.now();
    const err = await attacher.attach({ address: '127.0.0.1', port, iqn: 'iqn-absent', lun: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(IscsiTargetUnreachable);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(daemonsWith('iqn-absent')).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toBe(before);
  });

  describe('CHAP', () => {
    const chap = { user: 'deployer', password: `S3cret-${process.pid}-chap-pw` };
    let tgt: TgtTarget;
    beforeAll(async () => {
      tgt = await startTgt({ sizeBytes: 8 * 1024 * 1024, chap });
    });
    afterAll(() => tgt?.stop());

    it('the right credentials attach, and the password is in no process argv nor left on disk', async () => {
      const lun = await attacher.attach({ ...tgt, chap });
      try {
        expect(lun.sizeBytes).toBe(8 * 1024 * 1024);
        expect(daemonsWith(tgt.iqn)).toHaveLength(1);
        expect(argvsWith(chap.password)).toEqual([]);
        expect(readdirSync(dirname(lun.path))).not.toContain('chap.secret');
      } finally {
        await lun.detach();
        await lun.detach();
      }
      expect(mounted(lun.path)).toBe(false);
    });

    it('wrong or missing credentials fail with IscsiLoginFailed, and the message has no password', async () => {
      const wrong = { user: chap.user, password: 'not-the-password-42' };
      const err = await attacher.attach({ ...tgt, chap: wrong }).catch((e) => e);
      expect(err).toBeInstanceOf(IscsiLoginFailed);
      expect(err.kind).toBe('failed');
      expect(err.message).toContain(tgt.iqn);
      expect(err.message).not.toContain(wrong.password);
      await expect(attacher.attach({ ...tgt, chap: undefined })).rejects.toBeInstanceOf(IscsiLoginFailed);
      expect(daemonsWith(tgt.iqn)).toEqual([]);
    });
  });
});
