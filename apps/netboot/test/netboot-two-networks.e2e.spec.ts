import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_AMQP_URL, uniqueName } from '../../../test/support/amqp';
import { requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { Netns, testNamespaces } from '../../../test/support/netns';
import { enrollNode } from '../../../test/support/nodes';
import { type ServiceProcess, siteEnv, startService } from '../../../test/support/service';

// The built netboot service on a boot server with two networks, the usual layout:
//
//   mgmt 192.168.77.1 ──(eth0)── srv ──(eth1)── cli   (busybox udhcpc)
//                     192.168.77.2   10.77.0.1
//                     default route  pxe_interface
//
// DHCP listens on 0.0.0.0:67; no 255.255.255.255 route points at eth1, so a broadcast OFFER sent
// from the wildcard socket would leave by the default route. Needs root and busybox-static.
const HOST = 'cn-2net';
const MAC = '52:54:00:77:00:42';
const STRANGER = '52:54:00:77:00:98';

describe('netboot DHCP on a boot server with a management and a PXE network (process, namespaces)', () => {
  const before = testNamespaces();
  const all: Netns[] = [];
  let db: NovaBmDatabase;
  let svc: ServiceProcess | undefined;
  let cli: Netns;
  let work: string;
  let hook: string;

  /** busybox udhcpc on cli's eth0 with `mac`, 3 DISCOVERs at most: its exit code and what the hook saw. */
  const udhcpc = async (mac: string): Promise<{ code: number; got: string }> => {
    cli.ip('link', 'set', 'eth0', 'down');
    cli.ip('link', 'set', 'eth0', 'address', mac);
    cli.ip('link', 'set', 'eth0', 'up');
    const out = join(work, `udhcpc-${mac.replace(/:/g, '')}.log`);
    const c = cli.spawn(
      'busybox',
      ['udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', '3', '-T', '1', '-A', '1', '-V', 'PXEClient', '-s', hook],
      { env: { ...process.env, HOOK_OUT: out } },
    );
    const code = await new Promise<number>((ok) => c.once('exit', (x) => ok(x ?? -1)));
    return { code, got: await readFile(out, 'utf8').catch(() => '') };
  };

  beforeAll(async () => {
    requireBuilt('netboot');
    work = await mkdtemp(join(tmpdir(), 'netboot-2net-'));
    hook = join(work, 'hook');
    await writeFile(
      hook,
      '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip siaddr=$siaddr serverid=$serverid" >>"$HOOK_OUT"\nexit 0\n',
    );
    await chmod(hook, 0o755);
    db = await createNovaBmDatabase('bm_2net');
    await enrollNode(db.ds, HOST, { macs: [MAC] });

    const [mgmt, srv] = ['mgmt', 'srv', 'cli'].map((n) => {
      const ns = Netns.create(`2n${n}`);
      all.push(ns);
      return ns;
    });
    cli = all[2];
    srv.veth('eth0', mgmt, 'eth0');
    srv.veth('eth1', cli, 'eth0');
    mgmt.addAddress('eth0', '192.168.77.1/24');
    srv.addAddress('eth0', '192.168.77.2/24');
    srv.ip('route', 'add', 'default', 'via', '192.168.77.1');
    srv.addAddress('eth1', '10.77.0.1/24');
    await srv.forwardHostPort(Number(new URL(db.url).port || 5432));
    await srv.forwardHostPort(Number(new URL(TEST_AMQP_URL).port || 5672));
    svc = startService(
      'netboot',
      {
        ...siteEnv({ databaseUrl: db.url, exchange: uniqueName('2net'), host: HOST }),
        BM_MY_IP: '10.77.0.1',
        BM_PXE_INTERFACE: 'eth1',
        BM_TFTP_ROOT: work,
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.77.0.50,10.77.0.99',
      },
      srv,
    );
    await svc.waitFor('DHCP (full) on 0.0.0.0:67', 30_000);
  }, 60_000);

  afterAll(async () => {
    for (const n of all.reverse()) await n.destroy().catch(() => undefined);
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('replies leave from the PXE address: the node on the PXE link gets its lease', async () => {
    expect(svc!.output()).toContain('replies leave from 10.77.0.1 on pxe_interface eth1');
    const r = await udhcpc(MAC);
    expect(r.got).toContain('bound ip=10.77.0.50 siaddr=10.77.0.1 serverid=10.77.0.1');
    expect(r.code).toBe(0);
  }, 20_000);

  it("an unenrolled MAC's repeated DISCOVERs make one log line", async () => {
    const r = await udhcpc(STRANGER);
    expect(r.code).not.toBe(0);
    const lines = svc!
      .output()
      .split('\n')
      .filter((l) => l.includes(`ignored-unenrolled ${STRANGER}`));
    expect(lines).toHaveLength(1);
  }, 20_000);

  it('leaves no namespace behind', async () => {
    for (const n of all.splice(0).reverse()) await n.destroy();
    expect(testNamespaces()).toEqual(before);
  });
});
