import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TftpError, TftpErrorCode } from './errors';
import { FsFileProvider } from './fs-provider';
import { normalizeRequestPath } from './paths';
import { LayeredFileProvider, MemoryFileProvider } from './provider';

function denied(f: () => unknown): TftpError {
  try {
    f();
  } catch (e) {
    if (e instanceof TftpError) return e;
    throw e;
  }
  throw new Error('not denied');
}

describe('normalizeRequestPath (lexical confinement)', () => {
  it.each([
    ['pxelinux.0', 'pxelinux.0'],
    ['/pxelinux.0', 'pxelinux.0'],
    ['//pxelinux.0', 'pxelinux.0'],
    ['./pxelinux.cfg//default', 'pxelinux.cfg/default'],
    ['pxelinux.cfg/../pxelinux.0', 'pxelinux.0'],
    ['pxelinux.cfg\\01-52-54-00-aa-bb-cc', 'pxelinux.cfg/01-52-54-00-aa-bb-cc'],
    ['\\boot\\x86\\wdsnbp.com', 'boot/x86/wdsnbp.com'],
    ['/etc/passwd', 'etc/passwd'], // absolute names stay inside the root
    ['/tftpboot/pxelinux.0', 'pxelinux.0'],
    ['/tftpboot/', undefined],
    ['/tftpboot', undefined],
    ['/tftpbootX/pxelinux.0', 'tftpbootX/pxelinux.0'],
    ['..foo/bar', '..foo/bar'],
    ['kernel-..', 'kernel-..'],
  ])('%s → %s', (input, want) => {
    if (want === undefined)
      expect(denied(() => normalizeRequestPath(input, ['/tftpboot'])).message).toMatch(/no file name/);
    else expect(normalizeRequestPath(input, ['/tftpboot/'])).toBe(want);
  });

  it.each([
    '../etc/passwd',
    'pxelinux.cfg/../../x',
    '..',
    '/..',
    'a/../../b',
    '..\\..\\windows',
    '/tftpboot/../etc/passwd',
  ])('refuses %s (escapes the root)', (p) => {
    const e = denied(() => normalizeRequestPath(p, ['/tftpboot']));
    expect(e.code).toBe(TftpErrorCode.ACCESS_VIOLATION);
    expect(e.message).toMatch(/escapes the TFTP root/);
  });

  it.each(['a\0b', 'pxelinux.0\0.png', 'a\nb', 'x\u001b[31m', 'del\u007f'])('refuses control characters (%j)', (p) => {
    const e = denied(() => normalizeRequestPath(p));
    expect(e.code).toBe(TftpErrorCode.ACCESS_VIOLATION);
    expect(e.message).toMatch(/control character/);
  });

  it.each(['', '/', '.', './', '\\'])('refuses an empty name (%j)', (p) => {
    expect(denied(() => normalizeRequestPath(p)).code).toBe(TftpErrorCode.ACCESS_VIOLATION);
  });
});

describe('FsFileProvider (root /tftpboot mapped to a temp dir)', () => {
  let base: string;
  let root: string;
  let provider: FsFileProvider;
  const read = async (name: string) => {
    const f = await provider.open(name);
    if (!f) return undefined;
    try {
      return (await f.read(0, f.size + 10)).toString();
    } finally {
      await f.close();
    }
  };
  const refusal = async (name: string) => {
    const e = await provider.open(name).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TftpError);
    return e as TftpError;
  };

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'tftp-paths-'));
    root = path.join(base, 'root');
    fs.mkdirSync(path.join(root, 'pxelinux.cfg'), { recursive: true });
    fs.mkdirSync(path.join(root, 'images'));
    fs.writeFileSync(path.join(root, 'pxelinux.0'), 'PXE');
    fs.writeFileSync(path.join(root, 'pxelinux.cfg', 'default'), 'DEFAULT local');
    fs.writeFileSync(path.join(root, 'images', 'vmlinuz'), 'KERNEL');
    fs.writeFileSync(path.join(base, 'secret'), 'SECRET');
    fs.mkdirSync(path.join(base, 'outside'));
    fs.writeFileSync(path.join(base, 'outside', 'x'), 'OUT');
    fs.symlinkSync(path.join(base, 'secret'), path.join(root, 'escape'));
    fs.symlinkSync('../secret', path.join(root, 'escape-relative'));
    fs.symlinkSync(path.join(base, 'outside'), path.join(root, 'outdir'));
    fs.symlinkSync('images/vmlinuz', path.join(root, 'kernel')); // inside: allowed
    fs.symlinkSync(path.join(root, 'images'), path.join(root, 'img')); // directory inside: allowed
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
    provider = new FsFileProvider({ root, aliases: ['/tftpboot'] });
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('serves files by relative, absolute-in-root, /tftpboot and backslash names', async () => {
    expect(await read('pxelinux.0')).toBe('PXE');
    expect(await read('/pxelinux.0')).toBe('PXE');
    expect(await read('/tftpboot/pxelinux.0')).toBe('PXE');
    expect(await read(`${root}/pxelinux.0`)).toBe('PXE');
    expect(await read('pxelinux.cfg\\default')).toBe('DEFAULT local');
    expect(await read('/tftpboot/pxelinux.cfg/../pxelinux.0')).toBe('PXE');
  });

  it('follows symlinks that stay inside the root', async () => {
    expect(await read('kernel')).toBe('KERNEL');
    expect(await read('img/vmlinuz')).toBe('KERNEL');
  });

  it('missing files are undefined (ERROR 1), including /etc/passwd, which maps inside the root', async () => {
    expect(await provider.open('nope')).toBeUndefined();
    expect(await provider.open('/etc/passwd')).toBeUndefined();
    expect(await provider.open('pxelinux.0/child')).toBeUndefined();
  });

  it.each(['../secret', 'pxelinux.cfg/../../secret', '/tftpboot/../secret', '..\\secret', 'a\0b'])(
    'refuses %j lexically',
    async (name) => {
      expect((await refusal(name)).code).toBe(TftpErrorCode.ACCESS_VIOLATION);
    },
  );

  it.each(['escape', 'escape-relative', 'outdir/x'])('refuses the symlink escape %s', async (name) => {
    const e = await refusal(name);
    expect(e.code).toBe(TftpErrorCode.ACCESS_VIOLATION);
    expect(e.message).toMatch(/outside the TFTP root/);
  });

  it('refuses directories and symlink loops', async () => {
    expect((await refusal('pxelinux.cfg')).message).toMatch(/not a regular file/);
    expect((await refusal('loop1')).code).toBe(TftpErrorCode.ACCESS_VIOLATION);
  });

  it('reads at offsets, short only at the end', async () => {
    const f = await provider.open('pxelinux.cfg/default');
    expect(f?.size).toBe(13);
    expect((await f!.read(8, 3)).toString()).toBe('loc');
    expect((await f!.read(8, 100)).toString()).toBe('local');
    expect((await f!.read(50, 10)).length).toBe(0);
    await f!.close();
    await f!.close(); // idempotent
  });

  it('a memory provider layered over the file system wins for its names', async () => {
    let n = 0;
    const mem = new MemoryFileProvider({
      'pxelinux.cfg/default': () => `DEFAULT gen${++n}`,
      '/pxelinux.cfg\\01-aa': 'MAC',
    });
    const layered = new LayeredFileProvider([mem, provider]);
    const text = async (name: string) => {
      const f = await layered.open(name);
      if (!f) return undefined;
      const t = (await f.read(0, f.size)).toString();
      await f.close();
      return t;
    };
    expect(await text('pxelinux.cfg/default')).toBe('DEFAULT gen1');
    expect(await text('/pxelinux.cfg/default')).toBe('DEFAULT gen2');
    expect(await text('pxelinux.cfg/01-aa')).toBe('MAC');
    expect(await text('pxelinux.0')).toBe('PXE');
    expect(await text('nope')).toBeUndefined();
    expect(mem.delete('pxelinux.cfg/default')).toBe(true);
    expect(await text('pxelinux.cfg/default')).toBe('DEFAULT local');
    await expect(layered.open('../secret')).rejects.toBeInstanceOf(TftpError);
  });
});
