import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RawPeer } from '../test/raw-peer';
import { FunctionFileProvider, LayeredFileProvider, MemoryFileProvider } from './provider';
import { TftpServer, type TransferStats } from './server';

// Real TFTP clients from Debian (curl, atftp, tftp-hpa's tftp) against our server on
// 127.0.0.1 and an ephemeral port, files in a temp dir standing in for /tftpboot.
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}
function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t0 });
    });
  });
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const shaFile = (p: string) => sha(fs.readFileSync(p));

describe('TFTP server ↔ curl, atftp, tftp-hpa', () => {
  let base: string;
  let root: string;
  let out: string;
  let server: TftpServer;
  let stats: TransferStats[];
  let generated = 0;
  const digests: Record<string, string> = {};
  let n = 0;
  const outFile = () => path.join(out, `o${++n}`);
  const url = (f: string) => `tftp://127.0.0.1:${server.port}/${f}`;
  const statsFor = async (pred: (s: TransferStats) => boolean) => {
    for (let i = 0; i < 300; i++) {
      const s = stats.find(pred);
      if (s) return s;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no such transfer reported');
  };

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'tftp-peer-'));
    root = path.join(base, 'tftpboot');
    out = path.join(base, 'out');
    fs.mkdirSync(path.join(root, 'pxelinux.cfg'), { recursive: true });
    fs.mkdirSync(out);
    const put = (name: string, b: Buffer) => {
      fs.writeFileSync(path.join(root, name), b);
      digests[name] = sha(b);
    };
    put('pxelinux.0', randomBytes(42_123));
    put('vmlinuz', randomBytes(3 * 1024 * 1024 + 777));
    put('exact.bin', randomBytes(1468 * 100)); // ends with an empty DATA block at blksize 1468
    put('empty.bin', Buffer.alloc(0));
    put('big.bin', randomBytes(33 * 1024 * 1024)); // 67 584 blocks of 512: wraps past 65535
    put('text.cfg', Buffer.from('DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img\r\n'));
    fs.writeFileSync(path.join(base, 'secret'), 'TOP SECRET');
    fs.symlinkSync(path.join(base, 'secret'), path.join(root, 'escape'));
    fs.symlinkSync('vmlinuz', path.join(root, 'kernel-link'));
    stats = [];
    const generatedConfigs = new MemoryFileProvider({
      'pxelinux.cfg/default': () => `DEFAULT deploy\n# generated ${++generated}\n`,
    });
    const perMac = new FunctionFileProvider((p) =>
      /^pxelinux\.cfg\/01-([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(p) ? `DEFAULT node-${p.slice(-17)}\n` : undefined,
    );
    server = new TftpServer({
      address: '127.0.0.1',
      port: 0,
      root,
      rootAliases: ['/tftpboot'],
      provider: new LayeredFileProvider([generatedConfigs, perMac]),
      onTransfer: (s) => stats.push(s),
      maxTransfersPerClient: 32, // every client here is 127.0.0.1
    });
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(base, { recursive: true, force: true });
  });

  describe('downloads match (sha256)', () => {
    it.each([
      ['curl, default blksize', (o: string) => ['curl', ['-s', '--max-time', '20', url('vmlinuz'), '-o', o]]],
      [
        'curl, blksize 1468',
        (o: string) => ['curl', ['-s', '--max-time', '20', '--tftp-blksize', '1468', url('vmlinuz'), '-o', o]],
      ],
      [
        'atftp, blksize 1428 windowsize 8',
        (o: string) => [
          'atftp',
          [
            '--get',
            '-r',
            'vmlinuz',
            '-l',
            o,
            '--option',
            'blksize 1428',
            '--option',
            'windowsize 8',
            '127.0.0.1',
            String(server.port),
          ],
        ],
      ],
      [
        'atftp, no options',
        (o: string) => ['atftp', ['--get', '-r', 'vmlinuz', '-l', o, '127.0.0.1', String(server.port)]],
      ],
      [
        'tftp-hpa, binary',
        (o: string) => ['tftp', ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', 'vmlinuz', o]],
      ],
    ] as [string, (o: string) => [string, string[]]][])('%s', async (_name, cmd) => {
      const o = outFile();
      const [c, args] = cmd(o);
      const r = await run(c, args);
      expect(r).toMatchObject({ code: 0 });
      expect(shaFile(o)).toBe(digests['vmlinuz']);
    });

    it('curl: a size that is a multiple of blksize, an empty file, a symlink inside the root', async () => {
      for (const [f, want] of [
        ['exact.bin', digests['exact.bin']],
        ['empty.bin', digests['empty.bin']],
        ['kernel-link', digests['vmlinuz']],
      ]) {
        const o = outFile();
        expect(await run('curl', ['-s', '--max-time', '20', '--tftp-blksize', '1468', url(f), '-o', o])).toMatchObject({
          code: 0,
        });
        expect(shaFile(o)).toBe(want);
      }
      expect(await statsFor((s) => s.file === 'exact.bin')).toMatchObject({
        outcome: 'complete',
        blocks: 101,
        blksize: 1468,
      });
    });

    it('tftp-hpa in ascii mode gets the text back (netascii on the wire)', async () => {
      const o = outFile();
      expect(
        await run('tftp', ['127.0.0.1', String(server.port), '-m', 'ascii', '-c', 'get', 'text.cfg', o]),
      ).toMatchObject({ code: 0 });
      expect(shaFile(o)).toBe(digests['text.cfg']);
      expect(await statsFor((s) => s.file === 'text.cfg')).toMatchObject({ mode: 'netascii', outcome: 'complete' });
    });

    it('names in /tftpboot/… form and with backslashes', async () => {
      const a = outFile();
      expect(
        await run('atftp', ['--get', '-r', '/tftpboot/pxelinux.0', '-l', a, '127.0.0.1', String(server.port)]),
      ).toMatchObject({ code: 0 });
      expect(shaFile(a)).toBe(digests['pxelinux.0']);
      const b = outFile();
      expect(
        await run('tftp', ['-l', '127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', '\\pxelinux.0', b]),
      ).toMatchObject({ code: 0 });
      expect(shaFile(b)).toBe(digests['pxelinux.0']);
    });
  });

  describe('block number rollover: 33 MiB at blksize 512 (67 584 blocks)', () => {
    it('curl', async () => {
      const o = outFile();
      const r = await run('curl', ['-s', '--max-time', '50', '--tftp-blksize', '512', url('big.bin'), '-o', o], 55_000);
      expect(r.code).toBe(0);
      expect(shaFile(o)).toBe(digests['big.bin']);
      const st = await statsFor((s) => s.file === 'big.bin' && s.outcome === 'complete');
      expect(st).toMatchObject({ blocks: 67_585, bytes: 33 * 1024 * 1024, blksize: 512 });
    }, 60_000);

    it('tftp-hpa (no options)', async () => {
      const o = outFile();
      const r = await run(
        'tftp',
        ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', 'big.bin', o],
        55_000,
      );
      expect(r.code).toBe(0);
      expect(shaFile(o)).toBe(digests['big.bin']);
    }, 60_000);

    it('atftp, windowsize 16', async () => {
      const o = outFile();
      const r = await run(
        'atftp',
        [
          '--get',
          '-r',
          'big.bin',
          '-l',
          o,
          '--option',
          'blksize 512',
          '--option',
          'windowsize 16',
          '127.0.0.1',
          String(server.port),
        ],
        55_000,
      );
      expect(r.code).toBe(0);
      expect(shaFile(o)).toBe(digests['big.bin']);
    }, 60_000);
  });

  describe('refusals', () => {
    it.each([
      [
        '../ (atftp)',
        'atftp',
        (o: string) => ['--get', '-r', '../secret', '-l', o, '127.0.0.1', String(server.port)],
        2,
      ],
      [
        '../ (curl --path-as-is)',
        'curl',
        (o: string) => ['-s', '--max-time', '10', '--path-as-is', url('../secret'), '-o', o],
        2,
      ],
      [
        'pxelinux.cfg/../../ (atftp)',
        'atftp',
        (o: string) => ['--get', '-r', 'pxelinux.cfg/../../secret', '-l', o, '127.0.0.1', String(server.port)],
        2,
      ],
      ['symlink escape (curl)', 'curl', (o: string) => ['-s', '--max-time', '10', url('escape'), '-o', o], 2],
      [
        'symlink escape (atftp)',
        'atftp',
        (o: string) => ['--get', '-r', 'escape', '-l', o, '127.0.0.1', String(server.port)],
        2,
      ],
      [
        'absolute /etc/passwd (atftp): looked up inside the root',
        'atftp',
        (o: string) => ['--get', '-r', '/etc/passwd', '-l', o, '127.0.0.1', String(server.port)],
        1,
      ],
      [
        'absolute outside root (curl)',
        'curl',
        (o: string) => [
          '-s',
          '--max-time',
          '10',
          `tftp://127.0.0.1:${server.port}/${path.join(base, 'secret')}`,
          '-o',
          o,
        ],
        1,
      ],
      ['missing file (curl)', 'curl', (o: string) => ['-s', '--max-time', '10', url('nope'), '-o', o], 1],
    ] as [string, string, (o: string) => string[], number][])('%s fails', async (_name, cmd, args, code) => {
      const before = stats.length;
      const o = outFile();
      const r = await run(cmd, args(o));
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      const content = fs.existsSync(o) ? fs.readFileSync(o, 'utf8') : '';
      expect(content).not.toMatch(/SECRET|root:/);
      const st = await statsFor((s) => stats.indexOf(s) >= before);
      expect(st.outcome).toBe('error');
      expect(st.error).toMatch(code === 2 ? /escapes|outside/ : /not found/);
    });

    it('tftp-hpa reports the ERROR 2 (it exits 0 regardless) and writes nothing', async () => {
      const o = outFile();
      const r = await run('tftp', ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', '../secret', o]);
      expect(r.stderr + r.stdout).toMatch(/escapes the TFTP root/);
      expect(fs.existsSync(o) ? fs.readFileSync(o, 'utf8') : '').toBe('');
    });

    it('WRQ (curl -T) is refused and nothing is written', async () => {
      const src = path.join(out, 'upload-src');
      fs.writeFileSync(src, 'upload');
      const r = await run('curl', ['-s', '--max-time', '10', '-T', src, url('uploaded.bin')]);
      expect(r.code).not.toBe(0);
      expect(fs.existsSync(path.join(root, 'uploaded.bin'))).toBe(false);
      expect(await statsFor((s) => s.request === 'WRQ')).toMatchObject({
        outcome: 'error',
        error: expect.stringMatching(/read-only/),
      });
    });
  });

  it('serves generated content from the in-memory provider layered over the directory', async () => {
    const o1 = outFile();
    const o2 = outFile();
    const o3 = outFile();
    expect(await run('curl', ['-s', '--max-time', '10', url('pxelinux.cfg/default'), '-o', o1])).toMatchObject({
      code: 0,
    });
    expect(
      await run('atftp', [
        '--get',
        '-r',
        'pxelinux.cfg/01-52-54-00-ab-cd-ef',
        '-l',
        o2,
        '127.0.0.1',
        String(server.port),
      ]),
    ).toMatchObject({ code: 0 });
    expect(
      await run('tftp', ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', 'pxelinux.cfg/default', o3]),
    ).toMatchObject({ code: 0 });
    expect(fs.readFileSync(o1, 'utf8')).toMatch(/^DEFAULT deploy\n# generated \d+\n$/);
    expect(fs.readFileSync(o2, 'utf8')).toBe('DEFAULT node-52-54-00-ab-cd-ef\n');
    expect(fs.readFileSync(o3, 'utf8')).not.toBe(fs.readFileSync(o1, 'utf8')); // generated per request
    expect(fs.existsSync(path.join(root, 'pxelinux.cfg', 'default'))).toBe(false);
  });

  it('20 concurrent curl downloads all succeed', async () => {
    const runs = Array.from({ length: 20 }, (_x, i) => {
      const o = outFile();
      const args = [
        '-s',
        '--max-time',
        '25',
        ...(i % 2 ? ['--tftp-blksize', '1468'] : []),
        url(i % 4 === 3 ? 'pxelinux.0' : 'vmlinuz'),
        '-o',
        o,
      ];
      return run('curl', args, 28_000).then((r) => ({ r, o, f: i % 4 === 3 ? 'pxelinux.0' : 'vmlinuz' }));
    });
    const done = await Promise.all(runs);
    for (const { r, o, f } of done) {
      expect(r.code).toBe(0);
      expect(shaFile(o)).toBe(digests[f]);
    }
    for (let i = 0; i < 100 && server.activeTransfers > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.activeTransfers).toBe(0);
  }, 30_000);

  it('a client that never ACKs: dropped after the retries, nothing left behind', async () => {
    const seen: TransferStats[] = [];
    const s = new TftpServer({
      address: '127.0.0.1',
      port: 0,
      root,
      defaultTimeoutMs: 50,
      retries: 3,
      onTransfer: (x) => seen.push(x),
    });
    await s.start();
    const peer = await RawPeer.open();
    const count = (what: string) => process.getActiveResourcesInfo().filter((x) => x === what).length;
    const baseline = { udp: count('UDPWrap'), timers: count('Timeout') };
    try {
      await peer.send(s.port, {
        type: 'RRQ',
        filename: 'vmlinuz',
        mode: 'octet',
        options: new Map([['blksize', '1468']]),
      });
      expect((await peer.receive()).packet).toMatchObject({ type: 'OACK' });
      for (let i = 0; i < 300 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // A client that never answered gets the OACK three times (unconfirmedRetries), not retries + 1.
      expect(seen).toEqual([
        expect.objectContaining({ outcome: 'timeout', retransmits: 2, bytes: 0, blocks: 0, file: 'vmlinuz' }),
      ]);
      expect(s.activeTransfers).toBe(0);
      // Other timers of this process (the raw peer's receive deadline…) may still be pending: give
      // them up to 2 s to fire; a leaked retransmission timer of the server would never go.
      for (
        let until = Date.now() + 2000;
        Date.now() < until && (count('UDPWrap') > baseline.udp || count('Timeout') > baseline.timers);
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(count('UDPWrap')).toBeLessThanOrEqual(baseline.udp);
      expect(count('Timeout')).toBeLessThanOrEqual(baseline.timers);
      const rest = await peer.collect(50);
      expect(rest.map((x) => x.packet.type)).toEqual(['OACK', 'OACK', 'ERROR']);
    } finally {
      await peer.close();
      await s.stop();
    }
  });
});
