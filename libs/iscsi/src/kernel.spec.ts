import { ManualClock } from '@bm/core';
import { CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { IscsiAttachTimeout, IscsiLoginFailed, IscsiTargetNotFound, IscsiTargetUnreachable } from './errors';
import { byPathDevice, KernelAttacher, type RecordFiles, setRecordValues } from './kernel';

/** Records each call (argv, env, stdin) and answers by program + first distinguishing argument. */
class RecordingRunner extends CommandRunner {
  calls: { program: string; args: readonly string[]; env?: Record<string, string>; input?: string }[] = [];
  constructor(private readonly answer: (program: string, args: readonly string[]) => Partial<RunResult> = () => ({})) {
    super();
  }
  override async run(program: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ program, args, env: o.env, input: o.input?.toString() });
    return { code: 0, signal: null, stdout: '', stderr: '', durationMs: 1, ...this.answer(program, args) };
  }
}

const target = { address: '10.0.0.7', port: 3260, iqn: 'iqn-4c1f0a36-2a1b-4e8f-9a8c-2f6d3a1b5c7e', lun: 1 };
const portal = '10.0.0.7:3260';
const node = ['-m', 'node', '-p', portal, '-T', target.iqn];
const dev = `/dev/disk/by-path/ip-10.0.0.7:3260-iscsi-${target.iqn}-lun-1`;
const discovered = { stdout: `${portal},1 ${target.iqn}\n` };

function ok(program: string, args: readonly string[]): Partial<RunResult> {
  if (args.includes('discovery')) return discovered;
  if (program === 'blockdev') return { stdout: '10737418240\n' };
  return {};
}

class MemoryFiles implements RecordFiles {
  writes: { path: string; text: string }[] = [];
  constructor(public files: Record<string, string>) {}
  async read(path: string): Promise<string> {
    if (!(path in this.files)) throw new Error(`ENOENT ${path}`);
    return this.files[path];
  }
  async writePrivate(path: string, text: string): Promise<void> {
    this.writes.push({ path, text });
    this.files[path] = text;
  }
}

describe('KernelAttacher (iscsiadm, as the seed)', () => {
  it('discovers, logs in, waits for the by-path device, reads its size; detach logs out and deletes', async () => {
    const r = new RecordingRunner(ok);
    const lun = await new KernelAttacher(r, { exists: (p) => p === dev }).attach(target);
    expect(lun.path).toBe(dev);
    expect(byPathDevice(target)).toBe(dev);
    expect(lun.sizeBytes).toBe(10 * 1024 ** 3);
    await lun.detach();
    await lun.detach(); // twice: nothing more runs
    expect(r.calls.map((c) => [c.program, ...c.args])).toEqual([
      ['iscsiadm', '-m', 'discovery', '-t', 'st', '-p', portal],
      ['iscsiadm', ...node, '--login'],
      ['blockdev', '--getsize64', dev],
      ['iscsiadm', ...node, '--logout'],
      ['iscsiadm', ...node, '-o', 'delete'],
    ]);
  });

  it('CHAP: the password goes into the node record file (0600), never into argv, env or stdin', async () => {
    const record = `/etc/iscsi/nodes/${target.iqn}/10.0.0.7,3260,1/default`;
    const files = new MemoryFiles({
      [record]: '# BEGIN RECORD 2.1.8\nnode.name = x\nnode.session.auth.authmethod = None\n# END RECORD\n',
    });
    const r = new RecordingRunner(ok);
    const chap = { user: 'deployer', password: 'pa55-w0rd-s3cret' };
    const lun = await new KernelAttacher(r, { exists: () => true, files }).attach({ ...target, chap });
    await lun.detach();
    expect(files.writes).toEqual([
      {
        path: record,
        text:
          '# BEGIN RECORD 2.1.8\nnode.name = x\nnode.session.auth.authmethod = CHAP\n' +
          'node.session.auth.username = deployer\nnode.session.auth.password = pa55-w0rd-s3cret\n# END RECORD\n',
      },
    ]);
    expect(JSON.stringify(r.calls)).not.toContain(chap.password);
    expect(r.calls.map((c) => c.args.join(' '))).toContain([...node, '--login'].join(' '));
  });

  it('a refused CHAP login is IscsiLoginFailed without the password, and the record is deleted', async () => {
    const files = new MemoryFiles({ [`/etc/iscsi/nodes/${target.iqn}/10.0.0.7,3260,1/default`]: '' });
    const chap = { user: 'deployer', password: 'pa55-w0rd-s3cret' };
    const r = new RecordingRunner((p, a) =>
      a.includes('--login')
        ? { code: 24, stderr: `iscsiadm: Login failed: authorization failure (pw ${chap.password})\n` }
        : ok(p, a),
    );
    const err = (await await new KernelAttacher(r, { exists: () => true, files })
      .attach({ ...target, chap })
      .catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(IscsiLoginFailed);
    expect(err.message).toContain(target.iqn);
    expect(err.message).not.toContain(chap.password);
    expect(r.calls.at(-1)?.args).toEqual([...node, '-o', 'delete']);
  });

  it('discovery: no connection is IscsiTargetUnreachable, no such IQN is IscsiTargetNotFound', async () => {
    const down = new RecordingRunner(() => ({ code: 4, stderr: 'iscsiadm: connection login retries reached\n' }));
    await expect(new KernelAttacher(down).attach(target)).rejects.toBeInstanceOf(IscsiTargetUnreachable);
    const other = new RecordingRunner(() => ({ stdout: `${portal},1 iqn-other\n` }));
    await expect(new KernelAttacher(other).attach(target)).rejects.toBeInstanceOf(IscsiTargetNotFound);
    expect(other.calls).toHaveLength(1);
  });

  it('an already logged-in session (15) is accepted; a device that never appears times out and logs out', async () => {
    const clock = new ManualClock();
    const r = new RecordingRunner((p, a) => (a.includes('--login') ? { code: 15 } : ok(p, a)));
    const attaching = new KernelAttacher(r, { exists: () => false, clock, deviceTimeoutMs: 1000, pollMs: 100 })
      .attach(target)
      .catch((e: Error) => e);
    for (let i = 0; i < 20; i++) {
      await new Promise((done) => setImmediate(done));
      clock.advance(100);
    }
    expect(await attaching).toBeInstanceOf(IscsiAttachTimeout);
    expect(r.calls.slice(-2).map((c) => c.args.at(-1))).toEqual(['--logout', 'delete']);
  });
});

describe('setRecordValues', () => {
  it('replaces existing keys and adds missing ones before # END RECORD', () => {
    expect(setRecordValues('a = 1\nb = 2\n# END RECORD\n', { b: '3', c: '4' })).toBe(
      'a = 1\nb = 3\nc = 4\n# END RECORD\n',
    );
    expect(setRecordValues('a = 1\n', { c: '4' })).toBe('a = 1\nc = 4\n');
  });
});
