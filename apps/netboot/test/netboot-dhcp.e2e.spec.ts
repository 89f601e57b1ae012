import { createSocket, type Socket } from 'node:dgram';
import type { DataSource } from 'typeorm';
import { BmDhcpReservation } from '@bm/db';
import {
  BOOTREQUEST,
  DhcpMessageType,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  messageType,
  option,
  bootfileName,
} from '@bm/dhcp';
import { eventually, uniqueName } from '../../../test/support/amqp';
import { requireBuilt } from '../../../test/support/bmctl';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { enrollNode } from '../../../test/support/nodes';
import { freeUdpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

// The built netboot service's DHCP server, on loopback: broadcast replies are sent to 127.0.0.1
// ([netboot] dhcp_broadcast), the test plays the client on 127.0.0.1:68 (needs root, as CI is).
const HOST = 'cn-dhcp';
const MAC = '52:54:00:90:00:01';

function request(type: number, mac: string, xid: number, extra: DhcpPacket['options'] = []): Buffer {
  return encodeDhcp({
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from(mac.split(':').map((h) => parseInt(h, 16))),
    sname: '',
    file: '',
    options: [option.u8(53, type), option.text(60, 'PXEClient:Arch:00000:UNDI:002001'), option.u16(93, 0), ...extra],
  });
}

describe('netboot DHCP server (process, loopback)', () => {
  let db: NovaBmDatabase;
  let ds: DataSource;
  let svc: ServiceProcess | undefined;
  /** What the service printed since it last started. */
  const out = () => svc?.output() ?? '';
  let client: Socket;
  const replies: DhcpPacket[] = [];
  let port: number;
  let nodeId: number;

  const startNetboot = async () => {
    svc = startService(
      'netboot',
      await serviceEnv(
        { databaseUrl: db.url, exchange: uniqueName('dhcp'), host: HOST },
        {
          BM_MY_IP: '10.99.0.1',
          BM_DHCP_MODE: 'full',
          BM_DHCP_RANGE: '10.99.0.10,10.99.0.20',
          BM_LISTEN_ADDRESS: '127.0.0.1',
          BM_DHCP_PORT: String(port),
          BM_DHCP_BROADCAST: '127.0.0.1',
        },
      ),
    );
    await svc.waitFor('DHCP (full) on 127.0.0.1:');
  };
  const stopService = async () => {
    const s = svc;
    svc = undefined;
    await s?.stop();
  };
  const exchange = async (msg: Buffer, xid: number, want = true) => {
    const before = replies.length;
    client.send(msg, port, '127.0.0.1');
    if (!want) {
      await new Promise((r) => setTimeout(r, 500));
      expect(replies.filter((r) => r.xid === xid)).toEqual([]);
      return undefined;
    }
    return eventually(
      () => {
        const r = replies.slice(before).find((x) => x.xid === xid);
        if (!r) throw new Error('no reply yet');
        return r;
      },
      5000,
      20,
    );
  };

  beforeAll(async () => {
    requireBuilt('netboot');
    db = await createNovaBmDatabase('bm_dhcp');
    ds = db.ds;
    nodeId = await enrollNode(ds, HOST, { macs: [MAC] });
    port = await freeUdpPort();
    client = createSocket({ type: 'udp4', reuseAddr: true });
    client.on('message', (m) => {
      try {
        replies.push(decodeDhcp(m));
      } catch {
        // not for us
      }
    });
    await new Promise<void>((r) => client.bind(68, '127.0.0.1', () => r()));
    await startNetboot();
  }, 40_000);
  afterAll(async () => {
    await stopService();
    client?.close();
    await db?.drop();
  });

  it('DISCOVER → OFFER and REQUEST → ACK with the reserved address, next-server and pxelinux.0', async () => {
    const offer = (await exchange(request(DhcpMessageType.DISCOVER, MAC, 0x1001), 0x1001))!;
    expect([messageType(offer), offer.yiaddr, offer.siaddr, bootfileName(offer) ?? offer.file]).toEqual([
      DhcpMessageType.OFFER,
      '10.99.0.10',
      '10.99.0.1',
      'pxelinux.0',
    ]);
    const ack = (await exchange(
      request(DhcpMessageType.REQUEST, MAC, 0x1002, [option.ip(50, '10.99.0.10'), option.ip(54, '10.99.0.1')]),
      0x1002,
    ))!;
    expect([messageType(ack), ack.yiaddr]).toEqual([DhcpMessageType.ACK, '10.99.0.10']);
    await eventually(async () =>
      expect(await ds.getRepository(BmDhcpReservation).findOneBy({ mac: MAC })).toMatchObject({
        address: '10.99.0.10',
        active: true,
      }),
    );
    // Both answers are on the node's timeline, with the address and the boot file.
    await eventually(async () =>
      expect(
        await ds.query(
          `SELECT kind, detail FROM bm_node_events WHERE node_id = $1 AND source = 'netboot' ORDER BY id`,
          [nodeId],
        ),
      ).toEqual([
        { kind: 'dhcp.offer', detail: `offer 10.99.0.10 to ${MAC}, boot file pxelinux.0 (pxe client)` },
        { kind: 'dhcp.ack', detail: `ack 10.99.0.10 to ${MAC}, boot file pxelinux.0 (pxe client)` },
      ]),
    );
  });

  it('an unenrolled MAC gets no answer', async () => {
    await exchange(request(DhcpMessageType.DISCOVER, '52:54:00:90:00:99', 0x2001), 0x2001, false);
    expect(out()).toMatch(/ignored-unenrolled 52:54:00:90:00:99/);
  });

  it('garbage does not stop it', async () => {
    client.send(Buffer.from('not dhcp at all'), port, '127.0.0.1');
    const offer = await exchange(request(DhcpMessageType.DISCOVER, MAC, 0x3001), 0x3001);
    expect(offer!.yiaddr).toBe('10.99.0.10');
  });

  it('keeps the reservation across a restart', async () => {
    await stopService();
    await ds.query(`UPDATE bm_dhcp_reservations SET address = '10.99.0.17' WHERE mac = $1`, [MAC]);
    await startNetboot();
    const offer = await exchange(request(DhcpMessageType.DISCOVER, MAC, 0x4001), 0x4001);
    expect(offer!.yiaddr).toBe('10.99.0.17');
  }, 30_000);
});
