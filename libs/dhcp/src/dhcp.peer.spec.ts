import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDhcp, encodeDhcp, messageType, messageTypeName } from './codec';

// Real busybox udhcpc and ISC dhclient against respond() (scripts/capture-server.ts), in two private
// network namespaces (10.77.0.0/24) that scripts/capture-fixtures.sh creates and deletes. Needs root,
// iproute2, busybox-static and isc-dhcp-client (deploy/apt-packages.txt): without them it fails,
// it does not skip.
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const netns = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith('bmdhcp-'))
    .map((l) => l.split(' ')[0]);

describe('udhcpc and dhclient against respond() in network namespaces', () => {
  let out: string;
  let before: string[];
  let log: string;
  beforeAll(() => {
    const missing = ['ip', 'busybox', 'dhclient'].filter((c) => !has(c));
    if (process.getuid?.() !== 0 || missing.length)
      throw new Error(
        `needs root and ${missing.join(', ') || 'nothing else'}: run scripts/services.sh packages as root`,
      );
    out = mkdtempSync(join(tmpdir(), 'bmdhcp-peer-'));
    before = netns();
    execFileSync('bash', [join(__dirname, '../scripts/capture-fixtures.sh'), out], {
      cwd: join(__dirname, '../../..'),
      stdio: 'pipe',
      timeout: 25_000,
    });
    log = readFileSync(join(out, 'clients.log'), 'utf8');
  }, 30_000);
  afterAll(() => out && rmSync(out, { recursive: true, force: true }));

  it('udhcpc (the deploy ramdisk command line) binds the reservation and sees next-server, boot file and TFTP server', () => {
    expect(log).toContain(
      'udhcpc bound ip=10.77.0.50 mask=24 router=10.77.0.1 siaddr=10.77.0.1 boot_file=pxelinux.0 bootfile=pxelinux.0 tftp=10.77.0.1 serverid=10.77.0.1 lease=3600',
    );
    expect(log).toContain('udhcpc renew ip=10.77.0.50');
  });

  it('dhclient binds, reboots into the same address, and releases', () => {
    expect(log).toContain(
      'dhclient BOUND ip=10.77.0.50 mask=255.255.255.0 routers=10.77.0.1 next_server=10.77.0.1 filename=pxelinux.0 bootfile=pxelinux.0 tftp=10.77.0.1 server=10.77.0.1',
    );
    expect(log).toContain('dhclient REBOOT ip=10.77.0.50');
    expect(log).toContain('dhclient RELEASE');
  });

  it('every datagram the clients sent decodes and re-encodes byte for byte', () => {
    const files = readdirSync(out).filter((f) => f.endsWith('.hex') && !f.endsWith('.reply.hex'));
    const types = files.map((f) => {
      const bytes = Buffer.from(
        readFileSync(join(out, f), 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join(''),
        'hex',
      );
      const p = decodeDhcp(bytes);
      expect(encodeDhcp(p)).toEqual(bytes);
      return messageTypeName(messageType(p));
    });
    expect(new Set(types)).toEqual(new Set(['DISCOVER', 'REQUEST', 'RELEASE']));
  });

  it('leaves no namespace behind', () => {
    expect(netns()).toEqual(before);
  });
});
