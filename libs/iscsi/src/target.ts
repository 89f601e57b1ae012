import { isIP } from 'node:net';
import { IscsiInvalidTarget } from './errors';

/** CHAP credentials for the login (one-way CHAP: the initiator proves itself to the target). */
export interface ChapCredentials {
  user: string;
  password: string;
}

/** Where the deploy ramdisk exports its disk (the seed: IQN `iqn-<instance_uuid>`, LUN 1, port 3260). */
export interface IscsiTarget {
  address: string;
  port: number;
  iqn: string;
  lun: number;
  chap?: ChapCredentials;
}

/** An attached LUN: `path` is a block device or a regular file that dd, the writer and sfdisk can use. */
export interface AttachedLun {
  readonly path: string;
  readonly sizeBytes: number;
  /**
   * Resolves (never rejects) with an IscsiSessionLost if the attachment goes away on its own
   * (userspace: the daemon died); stays pending after a clean detach, and with the kernel
   * initiator (no daemon of ours to watch).
   */
  readonly lost: Promise<Error>;
  /** Logs out / stops the initiator and removes what attach made. Safe to call more than once. */
  detach(): Promise<void>;
}

export interface IscsiAttacher {
  /** 'kernel' or 'userspace'. */
  readonly kind: 'kernel' | 'userspace';
  attach(target: IscsiTarget): Promise<AttachedLun>;
  /** What an earlier process left attached and nobody serves any more, cleaned up (one line each). */
  sweepOrphans?(): Promise<string[]>;
}

const IQN = /^[\x21-\x7e]{1,223}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

/** Checks a target description; throws IscsiInvalidTarget naming every bad field (never the password). */
export function validateTarget(t: IscsiTarget): IscsiTarget {
  const problems: string[] = [];
  if (typeof t.address !== 'string' || !(isIP(t.address) || HOSTNAME.test(t.address))) {
    problems.push(`address ${JSON.stringify(t.address)} is not an IP address or host name`);
  }
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) problems.push(`port ${t.port} is not 1-65535`);
  if (typeof t.iqn !== 'string' || !IQN.test(t.iqn) || t.iqn.includes(',')) {
    problems.push(`iqn ${JSON.stringify(t.iqn)} is not a target name (printable, no spaces or commas)`);
  }
  if (!Number.isInteger(t.lun) || t.lun < 0 || t.lun > 16383) problems.push(`lun ${t.lun} is not 0-16383`);
  if (t.chap) {
    if (!t.chap.user || /[\s,=]/.test(t.chap.user)) problems.push('chap.user is empty or has spaces, commas or =');
    if (!t.chap.password) problems.push('chap.password is empty');
    else if (/[\0\n\r]/.test(t.chap.password)) problems.push('chap.password has NUL or line breaks');
  }
  if (problems.length) throw new IscsiInvalidTarget(`invalid iSCSI target: ${problems.join('; ')}`);
  return t;
}

/** `address:port`, with brackets around an IPv6 address. */
export function portalOf(t: Pick<IscsiTarget, 'address' | 'port'>): string {
  return isIP(t.address) === 6 ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`;
}

/** How messages name a target: `iqn-… lun 1 at 10.0.0.2:3260`. */
export function describeTarget(t: IscsiTarget): string {
  return `iSCSI target ${t.iqn} lun ${t.lun} at ${portalOf(t)}`;
}

/** Replaces the password wherever it occurs in a text taken from a program's output. */
export function scrub(text: string, chap?: ChapCredentials): string {
  return chap?.password ? text.split(chap.password).join('***') : text;
}
