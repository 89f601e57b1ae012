import { CommandRunner, type RunOptions, type RunResult } from '@bm/exec';
import { chooseAttacher, kernelInitiatorUsable } from './choose';
import { IscsiModeInvalid } from './errors';
import { KernelAttacher } from './kernel';
import { UserspaceAttacher } from './userspace';

class FakeRunner extends CommandRunner {
  calls: string[] = [];
  constructor(private readonly codes: Record<string, number | 'missing'>) {
    super();
  }
  override async run(program: string, args: readonly string[], _o: RunOptions = {}): Promise<RunResult> {
    this.calls.push([program, ...args].join(' '));
    const code = this.codes[program] ?? 0;
    if (code === 'missing') throw new Error(`cannot run ${program}: ENOENT`);
    return { code, signal: null, stdout: '', stderr: '', durationMs: 1 };
  }
}

describe('chooseAttacher', () => {
  it('kernel and userspace are taken as asked, without probing', async () => {
    const r = new FakeRunner({});
    expect(await chooseAttacher('kernel', r)).toBeInstanceOf(KernelAttacher);
    expect(await chooseAttacher('userspace', r)).toBeInstanceOf(UserspaceAttacher);
    expect(r.calls).toEqual([]);
  });

  it('auto: kernel when iscsi_tcp is loaded and iscsiadm runs', async () => {
    const r = new FakeRunner({ modprobe: 1 });
    const a = await chooseAttacher('auto', r, { exists: (p) => p === '/sys/module/iscsi_tcp' });
    expect(a.kind).toBe('kernel');
    expect(r.calls).toEqual(['iscsiadm --version']);
  });

  it('auto: kernel when the module is not loaded but modprobe -n finds it', async () => {
    const r = new FakeRunner({});
    expect((await chooseAttacher('auto', r, { exists: () => false })).kind).toBe('kernel');
    expect(r.calls).toEqual(['iscsiadm --version', 'modprobe -n iscsi_tcp']);
  });

  it('auto: userspace when there is no module (this machine), or no iscsiadm', async () => {
    expect((await chooseAttacher('auto', new FakeRunner({ modprobe: 1 }), { exists: () => false })).kind).toBe(
      'userspace',
    );
    expect((await chooseAttacher('auto', new FakeRunner({ modprobe: 'missing' }), { exists: () => false })).kind).toBe(
      'userspace',
    );
    const noAdm = new FakeRunner({ iscsiadm: 'missing' });
    expect(await kernelInitiatorUsable(noAdm, () => true)).toBe(false);
    expect((await chooseAttacher('auto', noAdm, { exists: () => true })).kind).toBe('userspace');
  });

  it('an unknown mode is a configuration error', async () => {
    await expect(chooseAttacher('nfs' as 'auto', new FakeRunner({}))).rejects.toBeInstanceOf(IscsiModeInvalid);
  });
});
