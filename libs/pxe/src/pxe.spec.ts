import { lstat, mkdtemp, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  generateDeployKey,
  macConfigName,
  pxePaths,
  renderIpxeScript,
  renderPxeConfig,
  switchIpxeToBoot,
  switchToBoot,
  PxeLayout,
  type PxeFiles,
} from '.';

const UUID = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';
const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

describe('pxelinux config (Nova pxe_config.template, Havana/Icehouse)', () => {
  it("renders the seed's config exactly", () => {
    expect(renderPxeConfig({ tftpRoot: '/tftpboot', instanceUuid: UUID, nodeId: 7, deployKey: KEY })).toBe(
      'default deploy\n' +
        '\n' +
        'label deploy\n' +
        `kernel /tftpboot/${UUID}/deploy_kernel\n` +
        `append initrd=/tftpboot/${UUID}/deploy_ramdisk selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${UUID} deployment_id=7 deployment_key=${KEY} troubleshoot=0 nofb nomodeset vga=normal\n` +
        'ipappend 3\n' +
        '\n' +
        '\n' +
        'label boot\n' +
        `kernel /tftpboot/${UUID}/kernel\n` +
        `append initrd=/tftpboot/${UUID}/ramdisk root=\${ROOT} ro nofb nomodeset vga=normal\n`,
    );
  });

  it('adds static ip= arguments per interface with pxe_network_config', () => {
    const c = renderPxeConfig({
      tftpRoot: '/tftpboot',
      instanceUuid: UUID,
      nodeId: 7,
      deployKey: KEY,
      network: [
        { address: '10.0.0.5', gateway: '10.0.0.1', netmask: '255.255.255.0' },
        { address: '10.1.0.5', gateway: '10.1.0.1', netmask: '255.255.0.0' },
      ],
    });
    expect(c).toContain(
      'root=${ROOT} ro nofb nomodeset vga=normal ip=10.0.0.5::10.0.0.1:255.255.255.0::eth0:off ip=10.1.0.5::10.1.0.1:255.255.0.0::eth1:off\n',
    );
  });

  it('switches to the boot label with the root UUID, as the deploy helper does', () => {
    const c = switchToBoot(
      renderPxeConfig({ tftpRoot: '/tftpboot', instanceUuid: UUID, nodeId: 7, deployKey: KEY }),
      'b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab',
    );
    expect(c.split('\n')[0]).toBe('default boot');
    expect(c).toContain('root=UUID=b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab ro');
    expect(c).not.toContain('${ROOT}');
    expect(c).toContain('label deploy'); // the labels stay, only the default changes
  });

  it('refuses bad keys, UUIDs and root UUIDs', () => {
    expect(() => renderPxeConfig({ tftpRoot: '/t', instanceUuid: UUID, nodeId: 1, deployKey: 'short' })).toThrow(
      /32 characters/,
    );
    expect(() => pxePaths('/t', '../etc')).toThrow(/not an instance UUID/);
    expect(() => switchToBoot('default deploy', 'x y')).toThrow(/not a filesystem UUID/);
  });

  it('names MAC configs as pxelinux asks for them', () => {
    expect(macConfigName('52:54:00:AB:cd:01')).toBe('01-52-54-00-ab-cd-01');
  });

  it('makes 32-character A-Z0-9 deploy keys, all different', () => {
    const keys = new Set(Array.from({ length: 100 }, generateDeployKey));
    expect(keys.size).toBe(100);
    for (const k of keys) expect(k).toMatch(/^[A-Z0-9]{32}$/);
  });

  it('renders the iPXE equivalent and switches it', () => {
    const s = renderIpxeScript({
      baseUrl: 'http://10.0.0.1:8080/tftpboot/x/',
      instanceUuid: UUID,
      nodeId: 3,
      deployKey: KEY,
    });
    expect(s.startsWith('#!ipxe\ngoto deploy\n')).toBe(true);
    expect(s).toContain(
      `kernel http://10.0.0.1:8080/tftpboot/x/deploy_kernel selinux=0 disk=cciss/c0d0,sda,hda,vda iscsi_target_iqn=iqn-${UUID} deployment_id=3 deployment_key=${KEY}`,
    );
    expect(s).toContain('BOOTIF=01-${netX/mac:hexhyp}');
    const b = switchIpxeToBoot(s, 'b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab');
    expect(b).toContain('goto boot');
    expect(b).toContain('root=UUID=b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab ro');
  });
});

describe('PxeLayout on a real directory', () => {
  it('prepares files and MAC links, activates boot, cleans exactly what it made', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tftp-'));
    const src = await mkdtemp(join(tmpdir(), 'img-'));
    const images = {
      kernel: join(src, 'k'),
      ramdisk: join(src, 'r'),
      deploy_kernel: join(src, 'dk'),
      deploy_ramdisk: join(src, 'dr'),
    };
    for (const [n, p] of Object.entries(images)) await writeFile(p, `image ${n}`);
    const layout = new PxeLayout(root);
    const macs = ['52:54:00:00:00:01', '52:54:00:00:00:02'];
    const cfg = await layout.prepare({ instanceUuid: UUID, nodeId: 4, deployKey: KEY, macs, images });
    expect(cfg).toBe(join(root, UUID, 'config'));
    expect(await readFile(join(root, UUID, 'deploy_ramdisk'), 'utf8')).toBe('image deploy_ramdisk');
    for (const m of macs) {
      const l = join(root, 'pxelinux.cfg', macConfigName(m));
      expect((await lstat(l)).isSymbolicLink()).toBe(true);
      expect(await readlink(l)).toBe(cfg);
      expect(await readFile(l, 'utf8')).toMatch(/^default deploy\n/);
    }
    // Preparing again (a retried deploy) replaces everything in place.
    await layout.prepare({ instanceUuid: UUID, nodeId: 4, deployKey: KEY, macs, images });
    await layout.activateBoot(UUID, 'b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab');
    expect(await readFile(join(root, 'pxelinux.cfg', macConfigName(macs[1])), 'utf8')).toMatch(/^default boot\n/);
    await layout.clean(UUID, macs);
    await expect(lstat(join(root, UUID))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(root, 'pxelinux.cfg', macConfigName(macs[0])))).rejects.toThrow(/ENOENT/);
    await layout.clean(UUID, macs); // idempotent
  });
});

/** A tree in memory: files (with their text), symlinks and directories; every operation logged. */
class MemoryPxeFiles implements PxeFiles {
  readonly dirs = new Set<string>(['/']);
  readonly files = new Map<string, string>();
  readonly links = new Map<string, string>();
  readonly log: string[] = [];

  async makeDir(dir: string) {
    this.log.push(`mkdir ${dir}`);
    for (let d = dir; d !== '/'; d = posix.dirname(d)) this.dirs.add(d);
  }
  async writeAtomic(path: string, data: string) {
    this.log.push(`write ${path}`);
    this.files.set(this.inDir(path), data);
  }
  async placeAtomic(source: string, target: string) {
    this.log.push(`place ${source} ${target}`);
    this.files.set(this.inDir(target), await this.readText(source));
  }
  async replaceSymlink(target: string, path: string) {
    this.log.push(`symlink ${path} -> ${target}`);
    this.files.delete(path);
    this.links.set(this.inDir(path), target);
  }
  async readText(path: string) {
    const text = this.files.get(this.links.get(path) ?? path);
    if (text === undefined) throw new Error(`ENOENT: ${path}`);
    return text;
  }
  async remove(path: string) {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
    this.links.delete(path);
  }
  async removeTree(dir: string) {
    this.log.push(`remove -r ${dir}`);
    const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
    for (const set of [this.dirs, this.files, this.links])
      for (const p of [...set.keys()]) if (inside(p)) set.delete(p);
  }
  /** Everything below `root`: files as their text, links as `-> target`, directories as `/`. */
  tree(root: string): Record<string, string> {
    const entries: [string, string][] = [
      ...[...this.dirs].map((d): [string, string] => [d, '/']),
      ...this.files,
      ...[...this.links].map(([p, t]): [string, string] => [p, `-> ${t}`]),
    ];
    return Object.fromEntries(entries.filter(([p]) => p.startsWith(`${root}/`)).sort(([a], [b]) => a.localeCompare(b)));
  }
  private inDir(path: string): string {
    if (!this.dirs.has(posix.dirname(path))) throw new Error(`ENOENT: no directory for ${path}`);
    return path;
  }
}

describe('PxeLayout against an in-memory PxeFiles', () => {
  const images = { kernel: '/img/k', ramdisk: '/img/r', deploy_kernel: '/img/dk', deploy_ramdisk: '/img/dr' };
  const macs = ['52:54:00:00:00:01', '52:54:00:00:00:02'];
  const ROOT_UUID = 'b3c2f4e8-1d2a-4d6f-9a7e-0123456789ab';

  function memory() {
    const files = new MemoryPxeFiles();
    files.dirs.add('/img');
    for (const [name, path] of Object.entries(images)) files.files.set(path, `image ${name}`);
    return files;
  }

  it('prepare places the images and writes the config atomically, then links each MAC to it', async () => {
    const files = memory();
    const layout = new PxeLayout('/tftpboot', files);
    const config = await layout.prepare({ instanceUuid: UUID, nodeId: 4, deployKey: KEY, macs, images });
    const dir = `/tftpboot/${UUID}`;
    expect(config).toBe(`${dir}/config`);
    expect(files.log).toEqual([
      `mkdir ${dir}`,
      `place /img/k ${dir}/kernel`,
      `place /img/r ${dir}/ramdisk`,
      `place /img/dk ${dir}/deploy_kernel`,
      `place /img/dr ${dir}/deploy_ramdisk`,
      `write ${config}`,
      'mkdir /tftpboot/pxelinux.cfg',
      `symlink /tftpboot/pxelinux.cfg/01-52-54-00-00-00-01 -> ${config}`,
      `symlink /tftpboot/pxelinux.cfg/01-52-54-00-00-00-02 -> ${config}`,
    ]);
    expect(files.tree('/tftpboot')).toEqual({
      [dir]: '/',
      [`${dir}/config`]: renderPxeConfig({ tftpRoot: '/tftpboot', instanceUuid: UUID, nodeId: 4, deployKey: KEY }),
      [`${dir}/deploy_kernel`]: 'image deploy_kernel',
      [`${dir}/deploy_ramdisk`]: 'image deploy_ramdisk',
      [`${dir}/kernel`]: 'image kernel',
      [`${dir}/ramdisk`]: 'image ramdisk',
      '/tftpboot/pxelinux.cfg': '/',
      '/tftpboot/pxelinux.cfg/01-52-54-00-00-00-01': `-> ${config}`,
      '/tftpboot/pxelinux.cfg/01-52-54-00-00-00-02': `-> ${config}`,
    });
  });

  it('activateBoot rewrites only the config; clean removes the MAC links and the instance directory', async () => {
    const files = memory();
    const layout = new PxeLayout('/tftpboot', files);
    const config = await layout.prepare({ instanceUuid: UUID, nodeId: 4, deployKey: KEY, macs, images });
    const prepared = files.tree('/tftpboot');
    files.log.length = 0;
    await layout.activateBoot(UUID, ROOT_UUID);
    expect(files.log).toEqual([`write ${config}`]);
    expect(files.tree('/tftpboot')).toEqual({ ...prepared, [config]: switchToBoot(prepared[config], ROOT_UUID) });
    expect(await files.readText(`/tftpboot/pxelinux.cfg/${macConfigName(macs[0])}`)).toMatch(/^default boot\n/);
    files.log.length = 0;
    await layout.clean(UUID, macs);
    expect(files.log).toEqual([
      'remove /tftpboot/pxelinux.cfg/01-52-54-00-00-00-01',
      'remove /tftpboot/pxelinux.cfg/01-52-54-00-00-00-02',
      `remove -r /tftpboot/${UUID}`,
    ]);
    expect(files.tree('/tftpboot')).toEqual({ '/tftpboot/pxelinux.cfg': '/' });
    expect(files.tree('/img')).toEqual({
      '/img/dk': 'image deploy_kernel',
      '/img/dr': 'image deploy_ramdisk',
      '/img/k': 'image kernel',
      '/img/r': 'image ramdisk',
    }); // the sources are left alone
  });
});
