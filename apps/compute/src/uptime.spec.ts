import { lastBootAt, uptimeLine, utmpUsers } from './uptime';

describe('uptimeLine (procps 4 `uptime`)', () => {
  const now = new Date(2024, 4, 1, 9, 5, 7); // local time, as uptime shows it
  const loads = [0.471, 1.93, 3.385];

  it('under an hour, an hour or more, days', () => {
    expect(uptimeLine({ now, uptimeS: 53 * 60 + 59, loads, users: 0 })).toBe(
      ' 09:05:07 up 53 min,  0 user,  load average: 0.47, 1.93, 3.38\n',
    );
    expect(uptimeLine({ now, uptimeS: 3 * 3600 + 4 * 60, loads, users: 1 })).toBe(
      ' 09:05:07 up  3:04,  1 user,  load average: 0.47, 1.93, 3.38\n',
    );
    expect(uptimeLine({ now, uptimeS: 86_400 + 60, loads, users: 2 })).toBe(
      ' 09:05:07 up 1 day, 1 min,  2 users,  load average: 0.47, 1.93, 3.38\n',
    );
    expect(uptimeLine({ now, uptimeS: 2 * 86_400 + 11 * 3600 + 5 * 60, loads: [], users: 12 })).toBe(
      ' 09:05:07 up 2 days, 11:05, 12 users,  load average: 0.00, 0.00, 0.00\n',
    );
  });
});

describe('utmpUsers', () => {
  const record = (type: number, user: string) => {
    const b = Buffer.alloc(384);
    b.writeInt16LE(type, 0);
    b.write(user, 44);
    return b;
  };

  it('counts USER_PROCESS records with a user name, as uptime does', () => {
    const utmp = Buffer.concat([
      record(2, 'reboot'),
      record(7, 'alice'),
      record(7, ''),
      record(8, 'bob'),
      record(7, 'bob'),
    ]);
    expect(utmpUsers(utmp)).toBe(2);
    expect(utmpUsers(Buffer.alloc(0))).toBe(0);
    expect(utmpUsers(utmp.subarray(0, 384 * 2 - 1))).toBe(0); // a torn last record is not read
  });
});

describe('lastBootAt (the node timeline)', () => {
  const at = (s: number) => new Date(Date.UTC(2024, 4, 1, 12, 0, s));

  it('the latest power-on or reboot that left the node on, power found on, or the activation', () => {
    expect(
      lastBootAt([
        { at: at(1), kind: 'power.on', detail: 'power on: node is on' },
        { at: at(2), kind: 'state', detail: 'active (activated)' },
        { at: at(3), kind: 'power.state', detail: 'power state read: node is on' },
        { at: at(4), kind: 'power.reboot', detail: 'reboot (off, boot device pxe persistent, on) failed: BMC down' },
      ]),
    ).toEqual(at(2));
    expect(
      lastBootAt([
        { at: at(1), kind: 'state', detail: 'active (activated)' },
        { at: at(5), kind: 'power.reboot', detail: 'reboot (off, boot device pxe persistent, on): node is on' },
        { at: at(6), kind: 'power.off', detail: 'power off: node is off' },
      ]),
    ).toEqual(at(5));
    expect(
      lastBootAt([{ at: at(7), kind: 'power.changed', detail: 'power state changed from off to on (power sync)' }]),
    ).toEqual(at(7));
    expect(lastBootAt([{ at: at(8), kind: 'power.changed', detail: 'power state on (first power sync)' }])).toBe(
      undefined,
    );
    expect(lastBootAt([])).toBeUndefined();
  });
});
