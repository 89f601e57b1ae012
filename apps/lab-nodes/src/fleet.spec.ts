import { promoteSecondaries, type SysctlFiles } from './fleet';

// promote_secondaries where /proc/sys can be written (a namespace of ours) and where it cannot (a
// container, EROFS), with the files in a map.
function sysctl(files: Record<string, string>, writable: boolean) {
  const warnings: string[] = [];
  const io: SysctlFiles = {
    write: async (f, v) => {
      if (!writable) throw Object.assign(new Error(`EROFS: read-only file system, open '${f}'`), { code: 'EROFS' });
      if (!(f in files)) throw Object.assign(new Error(`ENOENT: no such file, open '${f}'`), { code: 'ENOENT' });
      files[f] = v;
    },
    read: async (f) => {
      if (!(f in files)) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
      return files[f];
    },
    warn: (l) => warnings.push(l),
  };
  return { io, files, warnings };
}
const DEV = '/proc/sys/net/ipv4/conf/eth0/promote_secondaries';
const ALL = '/proc/sys/net/ipv4/conf/all/promote_secondaries';

describe('promoteSecondaries', () => {
  it('sets it on the interface when /proc/sys is writable', async () => {
    const s = sysctl({ [DEV]: '0\n', [ALL]: '0\n' }, true);
    expect(await promoteSecondaries('eth0', s.io)).toBe('set');
    expect(s.files[DEV]).toBe('1');
    expect(s.warnings).toEqual([]);
  });

  it('read-only (a container): fine when the interface or `all` has it already', async () => {
    for (const files of [
      { [DEV]: '1\n', [ALL]: '0\n' },
      { [DEV]: '0\n', [ALL]: '1\n' },
    ]) {
      const s = sysctl(files, false);
      expect(await promoteSecondaries('eth0', s.io)).toBe('already');
      expect(s.warnings).toEqual([]);
    }
  });

  it('read-only and off: runs on, with a warning saying what to set', async () => {
    const s = sysctl({ [DEV]: '0\n', [ALL]: '0\n' }, false);
    expect(await promoteSecondaries('eth0', s.io)).toBe('off');
    expect(s.warnings).toEqual([expect.stringContaining('net.ipv4.conf.eth0.promote_secondaries=1')]);
  });

  it('other errors are thrown (no such interface)', async () => {
    const s = sysctl({}, true);
    await expect(promoteSecondaries('eth9', s.io)).rejects.toThrow(/ENOENT/);
  });
});
