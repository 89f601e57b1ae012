import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { BmDhcpReservation, openDataSource, syncSchema } from '@bm/db';
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
import { EnrollmentService } from '@bm/enrollment';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { ROOT, requireBuilt } from '../../../test/support/bmctl';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/database';
import { freeTcpPort } from '../../../test/support/ports';

// The built netboot service's DHCP server, on loopback: broadcast replies are sent to 127.0.0.1
// ([netboot] dhcp_broadcast), the test plays the client on 127.0.0.1:68 (needs root, as CI is).
const HOST = 'cn-dhcp';
const MAC = '52:54:00:90:00:01';

function freeUdpPort(): Promise<number> {
  return new Promise((done) => {
    const s = createSocket('udp4').bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

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
  let db: ScratchDatabase;
  let ds: DataSource;
  let svc: ChildProcess | undefined;
  let out = '';
  let client: Socket;
  const replies: DhcpPacket[] = [];
  let port: number;

  const startService = async () => {
    out = '';
    svc = spawn(process.execPath, [join(ROOT, 'dist/apps/netboot/main.js')], {
      env: {
        PATH: process.env.PATH!,
        DATABASE_URL: db.url,
        TRANSPORT_URL: TEST_AMQP_URL,
        BM_CONTROL_EXCHANGE: uniqueName('dhcp'),
        BM_HOST: HOST,
        BM_HEALTH_PORT: String(await freeTcpPort()),
        BM_MY_IP: '10.99.0.1',
        BM_DHCP_MODE: 'full',
        BM_DHCP_RANGE: '10.99.0.10,10.99.0.20',
        BM_LISTEN_ADDRESS: '127.0.0.1',
        BM_DHCP_PORT: String(port),
        BM_DHCP_BROADCAST: '127.0.0.1',
      },
    });
    svc.stdout!.on('data', (d) => (out += d));
    svc.stderr!.on('data', (d) => (out += d));
    await eventually(() => expect(out).toContain('DHCP (full) on 127.0.0.1:'), 20_000, 100);
  };
  const stopService = async () => {
    const s = svc;
    svc = undefined;
    if (!s) return;
    const done = new Promise((r) => s.on('exit', r));
    s.kill('SIGTERM');
    await done;
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
    db = await createScratchDatabase('bm_dhcp');
    ds = await openDataSource(db.url);
    await syncSchema(ds);
    await new EnrollmentService(ds, HOST).createNode({
      macs: [MAC],
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.0.0.1',
    });
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
    await startService();
  }, 40_000);
  afterAll(async () => {
    await stopService();
    client?.close();
    await ds?.destroy();
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
  });

  it('an unenrolled MAC gets no answer', async () => {
    await exchange(request(DhcpMessageType.DISCOVER, '52:54:00:90:00:99', 0x2001), 0x2001, false);
    expect(out).toMatch(/ignored-unenrolled 52:54:00:90:00:99/);
  });

  it('garbage does not stop it', async () => {
    client.send(Buffer.from('not dhcp at all'), port, '127.0.0.1');
    const offer = await exchange(request(DhcpMessageType.DISCOVER, MAC, 0x3001), 0x3001);
    expect(offer!.yiaddr).toBe('10.99.0.10');
  });

  it('keeps the reservation across a restart', async () => {
    await stopService();
    await ds.query(`UPDATE bm_dhcp_reservations SET address = '10.99.0.17' WHERE mac = $1`, [MAC]);
    await startService();
    const offer = await exchange(request(DhcpMessageType.DISCOVER, MAC, 0x4001), 0x4001);
    expect(offer!.yiaddr).toBe('10.99.0.17');
  }, 30_000);
});
