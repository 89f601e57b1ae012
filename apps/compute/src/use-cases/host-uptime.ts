import { readFile } from 'node:fs/promises';
import { loadavg, uptime } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { type Clock, dateOf } from '@bm/core';
import { CLOCK } from '@bm/service';
import { uptimeLine, utmpUsers } from '../uptime';

/** Where glibc keeps who is logged in. */
const UTMP = '/var/run/utmp';

/**
 * get_host_uptime: the compute host's `uptime` line (Nova's libvirt driver runs `uptime`; we
 * print the same line from the kernel's figures, so it works where procps is not installed).
 * No utmp (a container): no users.
 */
@Injectable()
export class HostUptime {
  constructor(@Inject(CLOCK) private readonly clock: Clock) {}

  async run(): Promise<string> {
    const users = await readFile(UTMP).then(utmpUsers, () => 0);
    return uptimeLine({ now: dateOf(this.clock), uptimeS: uptime(), loads: loadavg(), users });
  }
}
