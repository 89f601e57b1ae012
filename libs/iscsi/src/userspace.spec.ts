import { CommandRunner, type RunningProgram } from '@bm/exec';
import {
  IscsiAttachFailed,
  IscsiInvalidTarget,
  IscsiLoginFailed,
  IscsiTargetNotFound,
  IscsiTargetUnreachable,
} from './errors';
import { establishedTo, isMountPoint, storageDaemonArgs, storageDaemonError, UserspaceAttacher } from './userspace';

const target = { address: '10.0.0.7', port: 3260, iqn: 'iqn-4c1f', lun: 1 };
const o = { initiatorName: 'iqn.2013-10.org.openstack.nova-bm:deploy-helper', requestTimeoutSec: 60 };

describe('storageDaemonArgs', () => {
  it('an iSCSI blockdev exported over FUSE, writable', () => {
    expect(storageDaemonArgs(target, '/tmp/bm-iscsi-x/lun.raw', o)).toEqual([
      '--blockdev',
      'driver=iscsi,node-name=lun,transport=tcp,portal=10.0.0.7:3260,target=iqn-4c1f,lun=1,' +
        'initiator-name=iqn.2013-10.org.openstack.nova-bm:deploy-helper,timeout=60',
      '--export',
      'type=fuse,id=lun0,node-name=lun,mountpoint=/tmp/bm-iscsi-x/lun.raw,writable=on',
    ]);
  });

  it('CHAP: the user and a secret object read from a file; the password is not in argv', () => {
    const chap = { user: 'deployer', password: 'pa55-w0rd' };
    const args = storageDaemonArgs({ ...target, chap }, '/d/lun.raw', { ...o, secretFile: '/d/chap.secret' });
    expect(args.slice(0, 2)).toEqual(['--object', 'secret,id=chap0,format=raw,file=/d/chap.secret']);
    expect(args[3]).toContain(',user=deployer,password-secret=chap0');
    expect(args.join(' ')).not.toContain(chap.password);
  });

  it('IPv6 portals are bracketed; commas in values are doubled', () => {
    const args = storageDaemonArgs({ ...target, address: 'fd77::2' }, '/a,b/lun.raw', { ...o, requestTimeoutSec: 0 });
    expect(args[1]).toContain('portal=[fd77::2]:3260,');
    expect(args[1]).not.toContain('timeout=');
    expect(args[3]).toContain('mountpoint=/a,,b/lun.raw,');
  });
});

describe('storageDaemonError (qemu-storage-daemon 7.2 messages)', () => {
  const line = (s: string) =>
    `qemu-storage-daemon: --blockdev driver=iscsi,...: iSCSI: Failed to connect to LUN : ${s}\n`;
  it.each([
    ['Failed to log in to target. Status: Authentication failure(513)', IscsiLoginFailed],
    ['Failed to log in to target. Status: Target not found(515)', IscsiTargetNotFound],
    ['SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)', IscsiTargetNotFound],
    [
      'iscsi_service failed with : iscsi_service_reconnect_if_loggedin. Can not reconnect right now.',
      IscsiTargetUnreachable,
    ],
  ])('%s', (text, cls) => {
    const e = storageDaemonError(target, line(text), 'exit status 1');
    expect(e).toBeInstanceOf(cls);
    expect(e.message).toContain('iqn-4c1f lun 1 at 10.0.0.7:3260');
  });

  it('anything else is IscsiAttachFailed; a password in the log is scrubbed', () => {
    const e = storageDaemonError(
      { ...target, chap: { user: 'u', password: 'hunter22' } },
      'fuse: hunter22 oops\n',
      '1',
    );
    expect(e).toBeInstanceOf(IscsiAttachFailed);
    expect(e.message).not.toContain('hunter22');
  });
});

describe('isMountPoint', () => {
  const info =
    '46 27 0:40 / /tmp/bm-iscsi-a/lun.raw rw,nosuid - fuse /dev/fuse rw\n' +
    '47 27 0:41 / /tmp/with\\040space/lun.raw rw - fuse /dev/fuse rw\n';
  it('matches the mount point field, octal escapes decoded', () => {
    expect(isMountPoint(info, '/tmp/bm-iscsi-a/lun.raw')).toBe(true);
    expect(isMountPoint(info, '/tmp/with space/lun.raw')).toBe(true);
    expect(isMountPoint(info, '/tmp/bm-iscsi-a')).toBe(false);
  });
});

describe('establishedTo (/proc/<pid>/net/tcp)', () => {
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const row = (rem: string, st: string, inode: string) =>
    `   0: 0100007F:A2F4 ${rem} ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 20 4 30\n`;
  // 127.0.0.1:3260 is 0100007F:0CBC.
  it('an ESTABLISHED (01) connection to the port on one of the sockets', () => {
    expect(establishedTo(head + row('0100007F:0CBC', '01', '4711'), 3260, new Set(['4711']))).toBe(true);
  });
  it('not another state, port or socket', () => {
    expect(establishedTo(head + row('0100007F:0CBC', '02', '4711'), 3260, new Set(['4711']))).toBe(false);
    expect(establishedTo(head + row('0100007F:0CBD', '01', '4711'), 3260, new Set(['4711']))).toBe(false);
    expect(establishedTo(head + row('0100007F:0CBC', '01', '4711'), 3260, new Set(['4712']))).toBe(false);
    expect(establishedTo(head, 3260, new Set(['4711']))).toBe(false);
  });
});

describe('UserspaceAttacher', () => {
  it('rejects a bad target before starting anything', async () => {
    class NoStart extends CommandRunner {
      override start(): Promise<RunningProgram> {
        throw new Error('must not start');
      }
    }
    const a = new UserspaceAttacher(new NoStart());
    await expect(a.attach({ ...target, port: 0, iqn: 'a b' })).rejects.toBeInstanceOf(IscsiInvalidTarget);
    await expect(a.attach({ ...target, chap: { user: 'u', password: '' } })).rejects.toThrow(/chap.password is empty/);
  });
});
