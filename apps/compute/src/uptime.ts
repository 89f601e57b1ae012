/**
 * The two uptimes compute reports: its host's (get_host_uptime: the line `uptime` prints, as
 * Nova's libvirt driver answers by running it) and an instance's (diagnostics: since its node
 * last booted, from the node's timeline).
 */

/** What the `uptime` line is made of. */
export interface HostUptimeFacts {
  /** Now, shown in local time as `uptime` does. */
  now: Date;
  /** Seconds since the host booted (os.uptime()). */
  uptimeS: number;
  /** The 1, 5 and 15 minute load averages (os.loadavg()). */
  loads: readonly number[];
  /** Users logged in (utmp). */
  users: number;
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * The `uptime` line of procps 4 (Debian 12's, where Nova Zed runs): ` 14:03:27 up 2 days,  3:04,
 *  1 user,  load average: 0.52, 0.58, 0.59` (under an hour `up 53 min,`; `day`, `user` unless
 * more than one), with the newline the command ends it with.
 */
export function uptimeLine(f: HostUptimeFacts): string {
  const clock = `${two(f.now.getHours())}:${two(f.now.getMinutes())}:${two(f.now.getSeconds())}`;
  const total = Math.max(0, Math.floor(f.uptimeS));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor(total / 3600) % 24;
  const minutes = Math.floor(total / 60) % 60;
  let up = days ? `${days} ${days > 1 ? 'days' : 'day'}, ` : '';
  up += hours ? `${String(hours).padStart(2)}:${two(minutes)}, ` : `${minutes} min, `;
  const users = `${String(f.users).padStart(2)} ${f.users > 1 ? 'users' : 'user'}`;
  const loads = [0, 1, 2].map((i) => (f.loads[i] ?? 0).toFixed(2)).join(', ');
  return ` ${clock} up ${up}${users},  load average: ${loads}\n`;
}

/** glibc's struct utmp on Linux (x86_64, aarch64): 384 bytes, ut_type a short at 0, ut_user at 44. */
const UTMP_RECORD = 384;
const USER_PROCESS = 7;
const UT_USER = 44;

/** The users logged in, as `uptime` counts them: utmp records of USER_PROCESS with a user name. */
export function utmpUsers(utmp: Buffer): number {
  let n = 0;
  for (let at = 0; at + UTMP_RECORD <= utmp.length; at += UTMP_RECORD)
    if (utmp.readInt16LE(at) === USER_PROCESS && utmp[at + UT_USER] !== 0) n++;
  return n;
}

/** A node timeline event, as far as booting goes. */
export interface TimelineEvent {
  at: Date;
  kind: string;
  detail: string;
}

/**
 * When the node last (re)started what it runs: the latest power-on or reboot that left it on
 * (the power service's `power.on` / `power.reboot` ending "node is on"), power found switched on
 * outside of us (the power sync's `power.changed … to on`), or the instance's activation (the
 * deploy ramdisk reboots the node into the instance just before). Undefined when the timeline
 * shows none.
 */
export function lastBootAt(events: readonly TimelineEvent[]): Date | undefined {
  const boots = events.filter(
    (e) =>
      ((e.kind === 'power.on' || e.kind === 'power.reboot') && e.detail.endsWith(': node is on')) ||
      (e.kind === 'power.changed' && / to on \(/.test(e.detail)) ||
      (e.kind === 'state' && e.detail.startsWith('active (activated)')),
  );
  return boots.reduce<Date | undefined>((latest, e) => (!latest || e.at > latest ? e.at : latest), undefined);
}
