import { existsSync } from 'node:fs';
import type { CommandRunner } from '@bm/exec';
import { IscsiModeInvalid } from './errors';
import { KernelAttacher, type KernelAttacherOptions } from './kernel';
import type { IscsiAttacher } from './target';
import { UserspaceAttacher, type UserspaceAttacherOptions } from './userspace';

export type AttacherMode = 'kernel' | 'userspace' | 'auto';

export interface ChooseAttacherOptions {
  exists?: (path: string) => boolean;
  kernel?: KernelAttacherOptions;
  userspace?: UserspaceAttacherOptions;
}

/**
 * Whether the kernel initiator can work here: iscsiadm runs, and iscsi_tcp is loaded
 * (`/sys/module/iscsi_tcp`) or loadable (`modprobe -n iscsi_tcp` succeeds).
 */
export async function kernelInitiatorUsable(
  runner: CommandRunner,
  exists: (path: string) => boolean = existsSync,
): Promise<boolean> {
  const ok = async (program: string, args: string[]) =>
    (await runner.run(program, args, { timeoutMs: 10_000 }).catch(() => undefined))?.code === 0;
  if (!(await ok('iscsiadm', ['--version']))) return false;
  return exists('/sys/module/iscsi_tcp') || (await ok('modprobe', ['-n', 'iscsi_tcp']));
}

/** The attacher for a mode; `auto` is the kernel initiator when usable, else the userspace one. */
export async function chooseAttacher(
  mode: AttacherMode,
  runner: CommandRunner,
  o: ChooseAttacherOptions = {},
): Promise<IscsiAttacher> {
  if (mode !== 'kernel' && mode !== 'userspace' && mode !== 'auto') {
    throw new IscsiModeInvalid(`unknown iSCSI attacher mode ${JSON.stringify(mode)} (kernel, userspace or auto)`);
  }
  const kernel = mode === 'kernel' || (mode === 'auto' && (await kernelInitiatorUsable(runner, o.exists)));
  return kernel ? new KernelAttacher(runner, o.kernel) : new UserspaceAttacher(runner, o.userspace);
}
