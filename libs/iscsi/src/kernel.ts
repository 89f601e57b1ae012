import { existsSync } from 'node:fs';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '@bm/core';
import type { CommandRunner, RunResult } from '@bm/exec';
import {
  IscsiAttachFailed,
  IscsiAttachTimeout,
  IscsiDetachFailed,
  IscsiLoginFailed,
  IscsiTargetNotFound,
  IscsiTargetUnreachable,
} from './errors';
import {
  type AttachedLun,
  type ChapCredentials,
  type IscsiAttacher,
  type IscsiTarget,
  describeTarget,
  portalOf,
  scrub,
  validateTarget,
} from './target';

/** iscsiadm exit statuses (open-iscsi include/iscsi_err.h). */
export const ISCSI_ERR = {
  TRANS: 4,
  LOGIN: 5,
  TRANS_TIMEOUT: 8,
  PDU_TIMEOUT: 11,
  SESS_EXISTS: 15,
  FATAL_LOGIN: 19,
  NO_OBJS_FOUND: 21,
  HOST_NOT_FOUND: 23,
  LOGIN_AUTH_FAILED: 24,
} as const;

/** The seed's device path: `/dev/disk/by-path/ip-<address>:<port>-iscsi-<iqn>-lun-<lun>`. */
export function byPathDevice(t: IscsiTarget): string {
  return `/dev/disk/by-path/ip-${portalOf(t)}-iscsi-${t.iqn}-lun-${t.lun}`;
}

/** The few file operations the node-record editor needs (a seam for tests). */
export interface RecordFiles {
  read(path: string): Promise<string>;
  /** Replaces the file atomically, readable by its owner only. */
  writePrivate(path: string, text: string): Promise<void>;
}

export const realRecordFiles: RecordFiles = {
  read: (path) => readFile(path, 'utf8'),
  writePrivate: async (path, text) => {
    const tmp = `${path}.bm-${process.pid}`;
    await writeFile(tmp, text, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  },
};

/** A node record's text with these `key = value` settings replaced or added (before `# END RECORD`). */
export function setRecordValues(text: string, values: Record<string, string>): string {
  const lines = text.split('\n');
  const pending = new Map(Object.entries(values));
  const out = lines.map((line) => {
    const m = /^\s*([A-Za-z0-9_.[\]]+)\s*=/.exec(line);
    if (m && pending.has(m[1])) {
      const v = pending.get(m[1])!;
      pending.delete(m[1]);
      return `${m[1]} = ${v}`;
    }
    return line;
  });
  const added = [...pending].map(([k, v]) => `${k} = ${v}`);
  const end = out.findIndex((l) => l.startsWith('# END RECORD'));
  if (end >= 0) out.splice(end, 0, ...added);
  else {
    if (out.length && out[out.length - 1] === '') out.pop();
    out.push(...added, '');
  }
  return out.join('\n');
}

export interface KernelAttacherOptions {
  /** open-iscsi's node database (default /etc/iscsi/nodes). */
  nodesDir?: string;
  files?: RecordFiles;
  /** Whether a path exists (default fs.existsSync). */
  exists?: (path: string) => boolean;
  /** How long to wait for the by-path device after login (default 30 s; the seed slept 3–10 s). */
  deviceTimeoutMs?: number;
  pollMs?: number;
  /** Timeout of each iscsiadm run (default 60 s). */
  commandTimeoutMs?: number;
  clock?: Clock;
}

/**
 * The seed's kernel initiator (open-iscsi): `iscsiadm` discovery and login, the by-path device
 * waited for, logout and `-o delete` on detach. Needs iscsid and the iscsi_tcp module.
 *
 * CHAP: `iscsiadm -o update -n node.session.auth.password -v <pw>` would put the password in argv
 * (readable by anyone in /proc), and iscsiadm reads no value from stdin, so the password is
 * written straight into the node record file that discovery created
 * (`<nodesDir>/<iqn>/<address>,<port>,<tpgt>/default`, replaced atomically, mode 0600), together
 * with `node.session.auth.authmethod = CHAP` and the user name; `iscsiadm --login` then reads it.
 * The record is deleted (`-o delete`) on detach and when the login fails.
 */
export class KernelAttacher implements IscsiAttacher {
  readonly kind = 'kernel' as const;
  private readonly o: Required<KernelAttacherOptions>;

  constructor(
    private readonly runner: CommandRunner,
    options: KernelAttacherOptions = {},
  ) {
    this.o = {
      nodesDir: '/etc/iscsi/nodes',
      files: realRecordFiles,
      exists: existsSync,
      deviceTimeoutMs: 30_000,
      pollMs: 250,
      commandTimeoutMs: 60_000,
      clock: systemClock,
      ...options,
    };
  }

  private iscsiadm(args: string[]): Promise<RunResult> {
    return this.runner.run('iscsiadm', args, { timeoutMs: this.o.commandTimeoutMs });
  }

  private nodeArgs(t: IscsiTarget): string[] {
    return ['-m', 'node', '-p', portalOf(t), '-T', t.iqn];
  }

  async attach(target: IscsiTarget): Promise<AttachedLun> {
    const t = validateTarget(target);
    const why = (r: RunResult): string =>
      scrub(r.stderr.trim().split('\n').slice(-2).join(' / ') || `exit status ${r.code ?? r.signal}`, t.chap);

    const disc = await this.iscsiadm(['-m', 'discovery', '-t', 'st', '-p', portalOf(t)]);
    if (disc.code !== 0) {
      if (disc.code === ISCSI_ERR.LOGIN_AUTH_FAILED) {
        throw new IscsiLoginFailed(`discovery login refused: ${describeTarget(t)}: ${why(disc)}`);
      }
      throw new IscsiTargetUnreachable(`discovery failed: ${describeTarget(t)}: ${why(disc)}`);
    }
    // Lines like `10.0.0.2:3260,1 iqn-…`
    const found = disc.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[1] === t.iqn);
    if (!found) throw new IscsiTargetNotFound(`discovery did not list the target: ${describeTarget(t)}`);
    const tpgt = /,(\d+)$/.exec(found[0])?.[1] ?? '1';

    const forget = () => this.iscsiadm([...this.nodeArgs(t), '-o', 'delete']).catch(() => undefined);
    try {
      if (t.chap) await this.setChap(t, tpgt, t.chap);
      const login = await this.iscsiadm([...this.nodeArgs(t), '--login']);
      if (login.code !== 0 && login.code !== ISCSI_ERR.SESS_EXISTS) {
        if (login.code === ISCSI_ERR.LOGIN_AUTH_FAILED || login.code === ISCSI_ERR.FATAL_LOGIN) {
          throw new IscsiLoginFailed(`login refused: ${describeTarget(t)}: ${why(login)}`);
        }
        if (login.code === ISCSI_ERR.TRANS || login.code === ISCSI_ERR.TRANS_TIMEOUT) {
          throw new IscsiTargetUnreachable(`login failed: ${describeTarget(t)}: ${why(login)}`);
        }
        throw new IscsiLoginFailed(`login failed: ${describeTarget(t)}: ${why(login)}`);
      }
    } catch (e) {
      await forget();
      throw e;
    }

    const lun = new KernelLun(byPathDevice(t), 0, async () => {
      const out = await this.iscsiadm([...this.nodeArgs(t), '--logout']);
      await forget();
      if (out.code !== 0 && out.code !== ISCSI_ERR.NO_OBJS_FOUND) {
        throw new IscsiDetachFailed(`logout failed: ${describeTarget(t)}: ${why(out)}`);
      }
    });
    try {
      await this.waitForDevice(t, lun.path);
      const size = await this.runner.run('blockdev', ['--getsize64', lun.path], {
        timeoutMs: this.o.commandTimeoutMs,
      });
      const bytes = Number(size.stdout.trim());
      if (size.code !== 0 || !Number.isSafeInteger(bytes)) {
        throw new IscsiAttachFailed(`cannot read the size of ${lun.path}: ${why(size)}`);
      }
      return new KernelLun(lun.path, bytes, () => lun.detach());
    } catch (e) {
      await lun.detach().catch(() => undefined);
      throw e;
    }
  }

  private async setChap(t: IscsiTarget, tpgt: string, chap: ChapCredentials): Promise<void> {
    const file = join(this.o.nodesDir, t.iqn, `${t.address},${t.port},${tpgt}`, 'default');
    let text: string;
    try {
      text = await this.o.files.read(file);
    } catch {
      throw new IscsiAttachFailed(`${describeTarget(t)}: no node record at ${file} after discovery`);
    }
    await this.o.files.writePrivate(
      file,
      setRecordValues(text, {
        'node.session.auth.authmethod': 'CHAP',
        'node.session.auth.username': chap.user,
        'node.session.auth.password': chap.password,
      }),
    );
  }

  private async waitForDevice(t: IscsiTarget, dev: string): Promise<void> {
    const deadline = this.o.clock.now() + this.o.deviceTimeoutMs;
    while (!this.o.exists(dev)) {
      if (this.o.clock.now() >= deadline) {
        throw new IscsiAttachTimeout(`${describeTarget(t)}: ${dev} did not appear within ${this.o.deviceTimeoutMs} ms`);
      }
      await this.o.clock.sleep(this.o.pollMs);
    }
  }
}

class KernelLun implements AttachedLun {
  readonly lost: Promise<Error> = new Promise(() => undefined);
  private detaching: Promise<void> | undefined;

  constructor(
    readonly path: string,
    readonly sizeBytes: number,
    private readonly logout: () => Promise<void>,
  ) {}

  detach(): Promise<void> {
    return (this.detaching ??= this.logout());
  }
}
