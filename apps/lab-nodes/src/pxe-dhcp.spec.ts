import {
  DhcpMessageType,
  DhcpOptionCode,
  InMemoryLeaseStore,
  clientArch,
  clientUuid,
  decodeDhcp,
  encodeDhcp,
  getOption,
  isBroadcast,
  macOf,
  messageType,
  parameterRequestList,
  requestedIp,
  respond,
  serverId,
  vendorClass,
} from '@bm/dhcp';
import {
  DhcpClientPort,
  PXE_PARAMETER_REQUEST_LIST,
  guidForMac,
  leaseOf,
  prefixLength,
  pxeDiscover,
  pxeSelect,
} from './pxe-dhcp';

const MAC = '52:54:00:83:00:01';
const ID = { mac: MAC, guid: guidForMac(MAC) };

describe('the PXE ROM DHCP of a simulated node', () => {
  it('DISCOVER: broadcast flag, PXEClient, arch 0, UNDI 2.1, its GUID, the PXE request list; over 300 bytes', () => {
    const wire = encodeDhcp(pxeDiscover(ID, 0x1234abcd, 4));
    expect(wire.length).toBeGreaterThanOrEqual(300);
    const p = decodeDhcp(wire);
    expect([p.op, p.htype, p.hlen, p.xid, p.secs, macOf(p), isBroadcast(p)]).toEqual([
      1,
      1,
      6,
      0x1234abcd,
      4,
      MAC,
      true,
    ]);
    expect(messageType(p)).toBe(DhcpMessageType.DISCOVER);
    expect(vendorClass(p)).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(clientArch(p)).toEqual([0]);
    expect(getOption(p, DhcpOptionCode.CLIENT_NDI)).toEqual(Buffer.from([1, 2, 1]));
    expect(clientUuid(p)).toEqual(Buffer.concat([Buffer.from([0]), ID.guid]));
    expect(parameterRequestList(p)).toEqual(PXE_PARAMETER_REQUEST_LIST);
    expect(getOption(p, DhcpOptionCode.MAX_MESSAGE_SIZE)).toEqual(Buffer.from([0x04, 0xec]));
  });

  it('a GUID per MAC, the same every time', () => {
    expect(guidForMac(MAC)).toEqual(guidForMac(MAC.toUpperCase()));
    expect(guidForMac(MAC)).not.toEqual(guidForMac('52:54:00:83:00:02'));
    expect(guidForMac(MAC)).toHaveLength(16);
  });

  it('is answered by our responder: OFFER, then REQUEST (50, 54) → ACK with the PXE boot; read as a lease', () => {
    const config = {
      serverIp: '10.83.0.1',
      mode: 'full' as const,
      range: { first: '10.83.0.50', last: '10.83.0.99' },
      netmask: '255.255.255.0',
      leaseTimeS: 3600,
      tftpServer: '10.83.0.1',
      bootfileBios: 'pxelinux.0',
      bootfileUefi: 'bootx64.efi',
    };
    const ctx = {
      config,
      lookup: (mac: string) => (mac === MAC ? { nodeId: '1' } : undefined),
      leases: new InMemoryLeaseStore(config.range, { exclude: ['10.83.0.1'] }),
    };
    const offer = respond(decodeDhcp(encodeDhcp(pxeDiscover(ID, 7))), ctx).reply!;
    const offered = leaseOf(decodeDhcp(encodeDhcp(offer)));
    expect(offered).toEqual({
      address: '10.83.0.50',
      server: '10.83.0.1',
      netmask: '255.255.255.0',
      nextServer: '10.83.0.1',
      bootFile: 'pxelinux.0',
    });
    const request = decodeDhcp(encodeDhcp(pxeSelect(ID, 7, offered)));
    expect([messageType(request), requestedIp(request), serverId(request)]).toEqual([3, '10.83.0.50', '10.83.0.1']);
    const ack = respond(request, ctx).reply!;
    expect(messageType(ack)).toBe(DhcpMessageType.ACK);
    expect(leaseOf(ack)).toEqual(offered);
  });

  it('a reply without an address, a server or a boot file is not a lease', () => {
    const reply = decodeDhcp(encodeDhcp(pxeDiscover(ID, 1)));
    expect(() => leaseOf(reply)).toThrow('no address');
    expect(() => leaseOf({ ...reply, yiaddr: '10.0.0.5' })).toThrow('no server identifier');
  });

  it('prefix lengths', () => {
    expect([prefixLength('255.255.255.0'), prefixLength('255.255.0.0'), prefixLength('255.255.255.252')]).toEqual([
      24, 16, 30,
    ]);
  });

  it('a request that cannot be sent is reported (onSendError) and tried again after its timeout', async () => {
    const failures: string[] = [];
    // A destination that does not resolve: send fails in its callback, as with ENETUNREACH.
    const port = await DhcpClientPort.open({
      clientPort: 0,
      serverPort: 1067,
      broadcast: 'no-such-host.invalid',
      onSendError: (e) => void failures.push(e.message),
    });
    const said: string[] = [];
    try {
      await expect(port.exchange(ID, { timeoutsMs: [50, 50], onMessage: (m) => said.push(m) })).rejects.toThrow(
        'no OFFER after 2 DISCOVERs',
      );
    } finally {
      await port.close();
    }
    expect(failures).toHaveLength(2);
    expect(said.filter((m) => m.includes('not sent'))).toHaveLength(2);
  });
});
