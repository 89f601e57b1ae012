import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CommandRunner } from '@bm/exec';
import { startTgt, type TgtTarget } from '../../../test/support/tgt';
import { IscsiLoginFailed, IscsiTargetNotFound, IscsiTargetUnreachable } from './errors';
import { DEFAULT_INITIATOR_NAME, isMountPoint, storageDaemonArgs, UserspaceAttacher } from './userspace';
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

describe('a deploy helper SIGKILLed in a write whose target has gone (the sweep at the next start)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('stays stuck in the write until sweepOrphans kills its daemon; then it exits and nothing is left', async () => {
    const tgt = await startTgt({ sizeBytes: 16 * 1024 * 1024 });
    const dir = mkdtempSync(join(tmpdir(), 'bm-iscsi-'));
    const path = join(dir, 'lun.raw');
    writeFileSync(path, '');
    const args = storageDaemonArgs(tgt, path, { initiatorName: DEFAULT_INITIATOR_NAME, requestTimeoutSec: 60 });
    // A stand-in deploy helper: a Node process that starts the daemon, then writes into the export when told.
    const script = `
      const { spawn } = require('node:child_process');
      const fs = require('node:fs');
      const d = spawn('qemu-storage-daemon', JSON.parse(process.env.QSD_ARGS), { stdio: 'ignore' });
      console.log('daemon ' + d.pid);
      process.stdin.once('data', async () => {
        const fh = await fs.promises.open(process.env.LUN, 'r+');
        await fh.write(Buffer.alloc(1 << 20, 7), 0, 1 << 20, 0);
        await fh.sync();
        console.log('written');
      });`;
    const helper = spawn(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH, QSD_ARGS: JSON.stringify(args), LUN: path },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    helper.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => helper.on('exit', () => r()));
    let daemonPid: number | undefined;
    try {
      for (let i = 0; i < 200 && !(daemonPid && mounted(path)); i++) {
        daemonPid ??= Number(/daemon (\d+)/.exec(out)?.[1]) || undefined;
        await sleep(50);
      }
      expect(mounted(path)).toBe(true);
      await tgt.stop(); // the ramdisk's target goes away
      helper.stdin!.write('go\n');
      await sleep(1500);
      expect(out).not.toContain('written'); // held by the daemon, which reconnects for ever
      helper.kill('SIGKILL');
      const after = await Promise.race([exited.then(() => 'exited'), sleep(3000).then(() => 'stuck')]);
      expect(after).toBe('stuck'); // the kill cannot end a thread in an uninterruptible FUSE write

      const swept = await new UserspaceAttacher(runner).sweepOrphans();
      expect(swept).toEqual([expect.stringContaining(`qemu-storage-daemon ${daemonPid} `)]);
      await Promise.race([exited, sleep(10_000).then(() => Promise.reject(new Error('the helper is still stuck')))]);
      expect(daemonsWith(path)).toEqual([]);
      expect(mounted(path)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    } finally {
      if (daemonPid) {
        try {
          process.kill(daemonPid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      helper.kill('SIGKILL');
      await runner.run('umount', ['-l', path]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('leaves alone the daemons of a deploy helper that runs', async () => {
    const tgt = await startTgt({ sizeBytes: 8 * 1024 * 1024 });
    const lun = await attacher.attach(tgt);
    try {
      expect(await new UserspaceAttacher(runner).sweepOrphans()).toEqual([]);
      expect(mounted(lun.path)).toBe(true);
    } finally {
      await lun.detach();
      await tgt.stop();
    }
  });
});
