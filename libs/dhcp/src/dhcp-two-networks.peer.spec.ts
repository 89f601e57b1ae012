import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, serveInNamespace, testNamespaces } from '../../../test/support/netns';

// A boot server with two networks, the usual layout: the management link carries the default
// route, the PXE link is a separate segment with the nodes.
//
//   mgmt 192.168.77.1 ──(eth0)── srv ──(eth1)── cli   (udhcpc, an enrolled MAC)
//                     192.168.77.2   10.77.0.1
//                     default route
//
// Our DHCP server (scripts/netboot/serve.ts) listens on 0.0.0.0:67 in srv; no 255.255.255.255
// route points at the PXE link. Needs root and busybox-static.
const ENROLLED = '52:54:00:77:00:41';

describe('DHCP on a boot server with a management and a PXE network', () => {
  const before = testNamespaces();
  const all: Netns[] = [];
  let work: string;
  let hook: string;

  const ns = (name: string) => {
    const n = Netns.create(name);
    all.push(n);
    return n;
  };

  /** The three namespaces, our server in srv (REPLY_ADDRESS when given); resolves with the client and the log. */
  const bootServer = async (tag: string, replyAddress?: string) => {
    const [mgmt, srv, cli] = [`mg${tag}`, `sv${tag}`, `cl${tag}`].map(ns);
    srv.veth('eth0', mgmt, 'eth0');
    srv.veth('eth1', cli, 'eth0');
    mgmt.addAddress('eth0', '192.168.77.1/24');
    srv.addAddress('eth0', '192.168.77.2/24');
    srv.ip('route', 'add', 'default', 'via', '192.168.77.1');
    srv.addAddress('eth1', '10.77.0.1/24');
    cli.ip('link', 'set', 'eth0', 'address', ENROLLED);
    cli.ip('link', 'set', 'eth0', 'up');
    const { log } = await serveInNamespace(
      srv,
      {
        ADDRESS: '10.77.0.1',
        RANGE: '10.77.0.50,10.77.0.99',
        MACS: ENROLLED,
        TFTP_ROOT: work,
        ...(replyAddress ? { REPLY_ADDRESS: replyAddress } : {}),
      },
      join(work, `ready-${tag}`),
    );
    return { cli, log };
  };

  /** busybox udhcpc as a PXE client: its exit code and what the hook saw. */
  const udhcpc = async (n: Netns): Promise<{ code: number; got: string }> => {
    const out = join(work, `udhcpc-${n.name}.log`);
    const c = n.spawn(
      'busybox',
      ['udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', '3', '-T', '1', '-A', '1', '-V', 'PXEClient', '-s', hook],
      { env: { ...process.env, HOOK_OUT: out } },
    );
    const code = await new Promise<number>((ok) => c.once('exit', (x) => ok(x ?? -1)));
    return { code, got: await readFile(out, 'utf8').catch(() => '') };
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dhcp-2net-'));
    hook = join(work, 'hook');
    await writeFile(
      hook,
      '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip siaddr=$siaddr serverid=$serverid" >>"$HOOK_OUT"\nexit 0\n',
    );
    await chmod(hook, 0o755);
  });

  afterAll(async () => {
    for (const n of all.reverse()) await n.destroy().catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('replying from the wildcard socket alone, the OFFER follows the default route and the node gets nothing', async () => {
    // The layout really reproduces the fault: we answer, the broadcast leaves by the management link.
    const { cli, log } = await bootServer('a');
    const r = await udhcpc(cli);
    expect(r.code).not.toBe(0);
    expect(r.got).toBe('');
    expect(log.filter((l) => l.dhcp === 'offer').length).toBeGreaterThan(0);
  }, 30_000);

  it('replying from the PXE address, the node on the PXE link gets its lease', async () => {
    const { cli, log } = await bootServer('b', '10.77.0.1');
    const r = await udhcpc(cli);
    expect(r.got).toContain('bound ip=10.77.0.50 siaddr=10.77.0.1 serverid=10.77.0.1');
    expect(r.code).toBe(0);
    expect(log.filter((l) => l.mac === ENROLLED).map((l) => l.dhcp)).toEqual(['offer', 'ack']);
  }, 30_000);

  it('leaves no namespace behind', async () => {
    for (const n of all.splice(0).reverse()) await n.destroy();
    expect(testNamespaces()).toEqual(before);
  });
});
