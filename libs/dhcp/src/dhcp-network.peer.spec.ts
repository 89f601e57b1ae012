import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../../../test/support/amqp';
import { Netns, serveInNamespace, testNamespaces } from '../../../test/support/netns';

// Our DHCP server (scripts/netboot/serve.ts, full mode) on a routed network of private namespaces:
//
//   cli ──(10.78.0.0/24)── relay ──┐            sw: bridge br0 = the server segment 10.77.0.0/24
//                      (dnsmasq     ├─ sw/br0 ─┬─ srv    10.77.0.1  ours
//                       --dhcp-relay)          ├─ other  10.77.0.3  dnsmasq, a second DHCP server
//                                              └─ cli2   a client on the server segment
//
// busybox udhcpc, as the deploy ramdisk runs it, is the client. Needs root, busybox-static and
// dnsmasq (deploy/apt-packages.txt).
const ENROLLED = '52:54:00:77:00:40';
const STRANGER = '52:54:00:77:00:99';

describe('udhcpc through a real relay, an unenrolled MAC, another DHCP server on the wire', () => {
  const before = testNamespaces();
  const all: Netns[] = [];
  let sw: Netns, srv: Netns, relay: Netns, cli: Netns, other: Netns, cli2: Netns;
  let work: string;
  let hook: string;
  let log: Record<string, unknown>[] = [];

  const ns = (name: string) => {
    const n = Netns.create(name);
    all.push(n);
    return n;
  };
  /** A veth from `n` (as eth<k>) to a port of the switch. */
  const plug = (n: Netns, dev: string, port: string) => {
    n.veth(dev, sw, port);
    sw.ip('link', 'set', port, 'master', 'br0');
    sw.ip('link', 'set', port, 'up');
  };
  /** udhcpc with the deploy ramdisk's PXE identity; resolves with its exit code and what the hook saw. */
  const udhcpc = async (n: Netns, mac: string): Promise<{ code: number; got: string }> => {
    n.ip('link', 'set', 'eth0', 'down');
    n.ip('link', 'set', 'eth0', 'address', mac);
    n.ip('link', 'set', 'eth0', 'up');
    const out = join(work, `udhcpc-${n.name}-${mac.replace(/:/g, '')}.log`);
    const c = n.spawn(
      'busybox',
      [
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-n',
        '-q',
        '-t',
        '3',
        '-T',
        '1',
        '-A',
        '1',
        '-V',
        'PXEClient:Arch:00000:UNDI:002001',
        '-O',
        'bootfile',
        '-O',
        'tftp',
        '-s',
        hook,
      ],
      { env: { ...process.env, HOOK_OUT: out } },
    );
    const code = await new Promise<number>((ok) => c.once('exit', (x) => ok(x ?? -1)));
    return { code, got: await readFile(out, 'utf8').catch(() => '') };
  };
  const events = (mac: string) => log.filter((l) => l.mac === mac);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dhcp-net-'));
    hook = join(work, 'hook');
    await writeFile(
      hook,
      '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip mask=$mask siaddr=$siaddr boot_file=$boot_file serverid=$serverid" >>"$HOOK_OUT"\nexit 0\n',
    );
    await chmod(hook, 0o755);

    sw = ns('sw');
    sw.ip('link', 'add', 'br0', 'type', 'bridge');
    sw.ip('link', 'set', 'br0', 'up');
    [srv, relay, other, cli2, cli] = ['srv', 'relay', 'other', 'cli2', 'cli'].map(ns);
    plug(srv, 'eth0', 'p-srv');
    plug(relay, 'eth1', 'p-relay');
    plug(other, 'eth0', 'p-other');
    plug(cli2, 'eth0', 'p-cli2');
    relay.veth('eth0', cli, 'eth0');
    srv.addAddress('eth0', '10.77.0.1/24', true);
    srv.ip('route', 'add', '10.78.0.0/24', 'via', '10.77.0.2');
    relay.addAddress('eth1', '10.77.0.2/24');
    relay.addAddress('eth0', '10.78.0.1/24');
    other.addAddress('eth0', '10.77.0.3/24', true);
    cli.ip('link', 'set', 'eth0', 'up');
    cli2.ip('link', 'set', 'eth0', 'up');

    // Ours: the range is the relayed subnet (giaddr 10.78.0.1 must be inside it).
    log = (
      await serveInNamespace(
        srv,
        { ADDRESS: '10.77.0.1', RANGE: '10.78.0.50,10.78.0.99', MACS: ENROLLED, TFTP_ROOT: work },
        join(work, 'ready'),
      )
    ).log;
    // A real relay agent: dnsmasq in relay mode (no DHCP range of its own).
    relay.spawn('dnsmasq', [
      '--keep-in-foreground',
      '--port=0',
      '--conf-file=/dev/null',
      '--pid-file=',
      '--dhcp-relay=10.78.0.1,10.77.0.1',
      `--log-facility=${join(work, 'relay.log')}`,
      '--log-dhcp',
    ]);
  }, 60_000);

  afterAll(async () => {
    for (const n of all.reverse()) await n.destroy().catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("a relayed client gets its reservation on the relay's subnet, next-server and boot file; we answered the relay", async () => {
    const r = await udhcpc(cli, ENROLLED);
    expect(r.code).toBe(0);
    expect(r.got).toContain('bound ip=10.78.0.50 mask=24 siaddr=10.77.0.1 boot_file=pxelinux.0 serverid=10.77.0.1');
    expect(
      events(ENROLLED)
        .filter((l) => l.dhcp === 'offer' || l.dhcp === 'ack')
        .map((l) => [l.dhcp, l.ip, l.relay]),
    ).toEqual([
      ['offer', '10.78.0.50', '10.78.0.1'],
      ['ack', '10.78.0.50', '10.78.0.1'],
    ]);
  });

  it('the same MAC gets the same address on its next boot', async () => {
    const r = await udhcpc(cli, ENROLLED);
    expect(r.got).toContain('bound ip=10.78.0.50 ');
  });

  it('an unenrolled MAC gets no answer and is recorded', async () => {
    const r = await udhcpc(cli, STRANGER);
    expect(r.code).not.toBe(0); // udhcpc -n: "no lease, failing"
    expect(r.got).toBe('');
    expect(events(STRANGER).map((l) => l.dhcp)).toContain('ignored-unenrolled');
    expect(events(STRANGER).find((l) => l.dhcp === 'ignored-unenrolled')).toMatchObject({ relay: '10.78.0.1' });
    expect(events(STRANGER).filter((l) => l.dhcp === 'offer')).toEqual([]);
  });

  it('another DHCP server on our segment is reported when a client takes its offer', async () => {
    other.spawn('dnsmasq', [
      '--keep-in-foreground',
      '--port=0',
      '--conf-file=/dev/null',
      '--pid-file=',
      '--interface=eth0',
      '--bind-interfaces',
      '--no-ping',
      '--dhcp-range=10.77.0.200,10.77.0.210,255.255.255.0,1h',
      `--dhcp-leasefile=${join(work, 'other.leases')}`,
      `--log-facility=${join(work, 'other.log')}`,
      '--log-dhcp',
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const r = await udhcpc(cli2, STRANGER);
    if (!r.got)
      throw new Error(
        `no lease from dnsmasq; its log:\n${await readFile(join(work, 'other.log'), 'utf8').catch((e: Error) => e.message)}`,
      );
    expect(r.got).toMatch(/bound ip=10\.77\.0\.2\d\d .* serverid=10\.77\.0\.3/);
    await eventually(() =>
      expect(
        events(STRANGER)
          .filter((l) => l.dhcp === 'other-server-seen')
          .map((l) => l.server),
      ).toContain('10.77.0.3'),
    );
  });

  it('leaves no namespace behind', async () => {
    for (const n of all.splice(0).reverse()) await n.destroy();
    expect(testNamespaces()).toEqual(before);
  });
});
