import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BROADCAST_FLAG,
  DhcpMessageType as T,
  bootfileName,
  decodeDhcp,
  encodeDhcp,
  getOption,
  hasOption,
  ipxeEncapsulated,
  leaseTime,
  messageType,
  option,
  pxeVendorOptions,
  routers,
  serverId,
  subnetMask,
  tftpServerName,
  vendorClass,
  type DhcpOption,
  type DhcpPacket,
} from './codec';
import { InMemoryLeaseStore } from './leases';
import {
  respond,
  validateResponderConfig,
  type Decision,
  type DhcpResponderConfig,
  type ReceivedOn,
  type ResponderContext,
} from './responder';
import { LAB_CONFIG, LAB_IPXE_SCRIPT } from '../test/lab-config';

const MAC = '52:54:00:77:00:20';
const OTHER_MAC = '52:54:00:77:00:21';
const STRANGER = '02:00:00:00:00:99';
const PXE_VC = 'PXEClient:Arch:00000:UNDI:002001';

const CONFIG: DhcpResponderConfig = LAB_CONFIG;
const SCRIPT = LAB_IPXE_SCRIPT;

function ctx(
  config: Partial<DhcpResponderConfig> = {},
  leases = new InMemoryLeaseStore(CONFIG.range, { exclude: ['10.77.0.1'] }),
): ResponderContext {
  const enrolled: Record<string, string> = { [MAC]: 'node-1', [OTHER_MAC]: 'node-2' };
  return {
    config: { ...CONFIG, ...config },
    leases,
    lookup: (mac) => (enrolled[mac] ? { nodeId: enrolled[mac] } : undefined),
  };
}

interface Req {
  type?: number;
  mac?: string;
  ciaddr?: string;
  giaddr?: string;
  flags?: number;
  op?: number;
  htype?: number;
  hlen?: number;
  siaddr?: string;
  requested?: string;
  server?: string;
  vc?: string | null;
  arch?: number | null;
  userClass?: string;
  extra?: DhcpOption[];
}

/** A client request as it comes off the wire (encoded and decoded again). */
function req(r: Req = {}): DhcpPacket {
  const options: DhcpOption[] = [];
  if (r.type !== 0) options.push(option.u8(53, r.type ?? T.DISCOVER));
  if (r.requested) options.push(option.ip(50, r.requested));
  if (r.server) options.push(option.ip(54, r.server));
  if (r.vc !== null) options.push(option.text(60, r.vc ?? PXE_VC));
  if (r.arch !== null) options.push(option.u16(93, r.arch ?? 0));
  if (r.userClass) options.push(option.text(77, r.userClass));
  options.push(...(r.extra ?? []));
  return decodeDhcp(
    encodeDhcp({
      op: r.op ?? 1,
      htype: r.htype ?? 1,
      hlen: r.hlen ?? 6,
      hops: r.giaddr ? 1 : 0,
      xid: 0xcafe0001,
      secs: 4,
      flags: r.flags ?? 0,
      ciaddr: r.ciaddr ?? '0.0.0.0',
      yiaddr: '0.0.0.0',
      siaddr: r.siaddr ?? '0.0.0.0',
      giaddr: r.giaddr ?? '0.0.0.0',
      chaddr: Buffer.from((r.mac ?? MAC).replace(/:/g, ''), 'hex').subarray(0, r.hlen ?? 6),
      sname: '',
      file: '',
      options,
    }),
  );
}

/** The reply as the client would see it: encoded, then decoded. */
function wire(d: Decision): DhcpPacket {
  expect(d.reply).toBeDefined();
  const bytes = encodeDhcp(d.reply as DhcpPacket);
  expect(bytes.length).toBeGreaterThanOrEqual(300);
  return decodeDhcp(bytes);
}

const codes = (p: DhcpPacket) => p.options.map((o) => o.code);
const BCAST = { address: '255.255.255.255', port: 68, via: 'broadcast' };

describe('enrollment', () => {
  it.each([T.DISCOVER, T.REQUEST, T.INFORM, T.RELEASE])(
    'ignores and records message type %i from an unenrolled MAC',
    (type) => {
      const c = ctx();
      const d = respond(
        req({
          type,
          mac: STRANGER,
          requested: '10.77.0.50',
          ciaddr: type === T.INFORM || type === T.RELEASE ? '10.77.0.7' : undefined,
        }),
        c,
      );
      expect(d.reply).toBeUndefined();
      expect(d.destination).toBeUndefined();
      expect(d.log).toMatchObject({
        event: 'ignored-unenrolled',
        mac: STRANGER,
        xid: 0xcafe0001,
        vendorClass: PXE_VC,
        arch: 0,
      });
      expect(c.leases.get(STRANGER)).toBeUndefined();
    },
  );

  it('looks up the MAC in lower-case colon form and logs the node', () => {
    const seen: string[] = [];
    const c = { ...ctx(), lookup: (mac: string) => (seen.push(mac), { nodeId: 'n-7' }) };
    const d = respond(req({ mac: '52:54:00:AB:CD:EF' }), c);
    expect(seen).toEqual(['52:54:00:ab:cd:ef']);
    expect(d.log).toMatchObject({ event: 'offer', nodeId: 'n-7', mac: '52:54:00:ab:cd:ef' });
  });
});

describe('DISCOVER → OFFER (full mode)', () => {
  it('offers the reservation with address options and PXE boot options', () => {
    const d = respond(req(), ctx());
    const p = wire(d);
    expect(d.destination).toEqual(BCAST);
    expect(d.log).toMatchObject({
      event: 'offer',
      ip: '10.77.0.50',
      nodeId: 'node-1',
      client: 'pxe',
      arch: 0,
      bootfile: 'pxelinux.0',
    });
    expect(p).toMatchObject({
      op: 2,
      htype: 1,
      hlen: 6,
      xid: 0xcafe0001,
      secs: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '10.77.0.50',
      siaddr: '10.77.0.1',
      giaddr: '0.0.0.0',
      file: 'pxelinux.0',
      sname: '',
    });
    expect(p.chaddr.toString('hex')).toBe('525400770020');
    expect(messageType(p)).toBe(T.OFFER);
    expect(serverId(p)).toBe('10.77.0.1');
    expect(leaseTime(p)).toBe(3600);
    expect(getOption(p, 58)?.readUInt32BE(0)).toBe(1800);
    expect(getOption(p, 59)?.readUInt32BE(0)).toBe(3150);
    expect(subnetMask(p)).toBe('255.255.255.0');
    expect(routers(p)).toEqual(['10.77.0.1']);
    expect(tftpServerName(p)).toBe('10.77.0.1');
    expect(bootfileName(p)).toBe('pxelinux.0');
    expect(vendorClass(p)).toBe('PXEClient');
    expect(getOption(p, 43)?.toString('hex')).toBe('060108ff');
    expect(pxeVendorOptions(p)?.discoveryControl).toBe(8);
    expect(hasOption(p, 175)).toBe(false);
    expect(codes(p)).toEqual([53, 54, 51, 58, 59, 1, 3, 66, 67, 60, 43]);
  });

  it('gives each MAC its own stable address, on every boot, after release, and from a persisted store', () => {
    const c = ctx();
    expect(respond(req(), c).reply?.yiaddr).toBe('10.77.0.50');
    expect(respond(req({ mac: OTHER_MAC }), c).reply?.yiaddr).toBe('10.77.0.51');
    expect(respond(req(), c).reply?.yiaddr).toBe('10.77.0.50');
    respond(req({ type: T.RELEASE, ciaddr: '10.77.0.50', server: '10.77.0.1' }), c);
    expect(respond(req({ mac: OTHER_MAC }), c).reply?.yiaddr).toBe('10.77.0.51');
    expect(respond(req({ vc: null, arch: null }), c).reply?.yiaddr).toBe('10.77.0.50'); // the instance's own DHCP client
    const restarted = ctx(
      {},
      new InMemoryLeaseStore(CONFIG.range, { reservations: (c.leases as InMemoryLeaseStore).list() }),
    );
    expect(respond(req({ mac: OTHER_MAC }), restarted).reply?.yiaddr).toBe('10.77.0.51');
  });

  it('stays silent and logs range-full when no address is left', () => {
    const c = ctx(
      { range: { first: '10.77.0.50', last: '10.77.0.50' } },
      new InMemoryLeaseStore({ first: '10.77.0.50', last: '10.77.0.50' }),
    );
    respond(req({ mac: OTHER_MAC }), c);
    const d = respond(req(), c);
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'range-full', mac: MAC });
  });

  it('answers a client without option 60/93 (the instance OS) with an address and the BIOS boot file, no PXE vendor options', () => {
    const p = wire(respond(req({ vc: null, arch: null }), ctx()));
    expect(p.yiaddr).toBe('10.77.0.50');
    expect(hasOption(p, 60)).toBe(false);
    expect(hasOption(p, 43)).toBe(false);
    expect(bootfileName(p)).toBe('pxelinux.0');
  });

  it('echoes option 61 (RFC 6842) and option 97 to PXE clients', () => {
    const uuid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x5a)]);
    const p = wire(
      respond(req({ extra: [option.raw(61, Buffer.from('01525400770020', 'hex')), option.raw(97, uuid)] }), ctx()),
    );
    expect(getOption(p, 61)?.toString('hex')).toBe('01525400770020');
    expect(getOption(p, 97)).toEqual(uuid);
  });
});

describe('boot file by client architecture (option 93, RFC 4578) and iPXE', () => {
  const cases: {
    name: string;
    r: Req;
    config?: Partial<DhcpResponderConfig>;
    file?: string;
    siaddr: string;
    opt66: boolean;
    ipxe: boolean;
  }[] = [
    { name: 'BIOS x86 (0)', r: { arch: 0 }, file: 'pxelinux.0', siaddr: '10.77.0.1', opt66: true, ipxe: false },
    { name: 'no option 93', r: { arch: null }, file: 'pxelinux.0', siaddr: '10.77.0.1', opt66: true, ipxe: false },
    {
      name: 'EFI BC (7)',
      r: { arch: 7, vc: 'PXEClient:Arch:00007:UNDI:003016' },
      file: 'bootx64.efi',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: false,
    },
    {
      name: 'EFI x64 (9)',
      r: { arch: 9, vc: 'PXEClient:Arch:00009:UNDI:003016' },
      file: 'bootx64.efi',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: false,
    },
    {
      name: 'EFI IA32 (6) with a loader configured',
      r: { arch: 6 },
      config: { bootfileUefiIa32: 'bootia32.efi' },
      file: 'bootia32.efi',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: false,
    },
    { name: 'EFI IA32 (6) without one', r: { arch: 6 }, file: undefined, siaddr: '0.0.0.0', opt66: false, ipxe: false },
    {
      name: 'ARM64 EFI (11): unsupported',
      r: { arch: 11 },
      file: undefined,
      siaddr: '0.0.0.0',
      opt66: false,
      ipxe: false,
    },
    {
      name: 'iPXE (user class) with a script URL',
      r: { userClass: 'iPXE' },
      config: { ipxeScriptUrl: SCRIPT },
      file: SCRIPT,
      siaddr: '10.77.0.1',
      opt66: false,
      ipxe: true,
    },
    {
      name: 'iPXE (option 175 only) with a script URL',
      r: { extra: [option.raw(175, [0x13, 1, 1])] },
      config: { ipxeScriptUrl: SCRIPT },
      file: SCRIPT,
      siaddr: '10.77.0.1',
      opt66: false,
      ipxe: true,
    },
    {
      name: 'iPXE without a script URL: pxelinux.0 like any PXE client',
      r: { userClass: 'iPXE' },
      file: 'pxelinux.0',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: true,
    },
    {
      name: 'iPXE EFI build without a script URL',
      r: { userClass: 'iPXE', arch: 7 },
      file: 'bootx64.efi',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: true,
    },
    {
      name: 'RFC 3004-encoded user class "iPXE"',
      r: { extra: [option.raw(77, Buffer.from('\x04iPXE', 'latin1'))] },
      config: { ipxeScriptUrl: SCRIPT },
      file: SCRIPT,
      siaddr: '10.77.0.1',
      opt66: false,
      ipxe: true,
    },
    {
      name: 'another user class is not iPXE',
      r: { userClass: 'gPXE' },
      config: { ipxeScriptUrl: SCRIPT },
      file: 'pxelinux.0',
      siaddr: '10.77.0.1',
      opt66: true,
      ipxe: false,
    },
  ];
  it.each(cases)('$name', ({ r, config, file, siaddr, opt66, ipxe }) => {
    for (const type of [T.DISCOVER, T.REQUEST]) {
      const d = respond(
        req({
          ...r,
          type,
          requested: type === T.REQUEST ? '10.77.0.50' : undefined,
          server: type === T.REQUEST ? '10.77.0.1' : undefined,
        }),
        ctx(config),
      );
      const p = wire(d);
      expect(messageType(p)).toBe(type === T.DISCOVER ? T.OFFER : T.ACK);
      expect(p.yiaddr).toBe('10.77.0.50');
      expect(bootfileName(p)).toBe(file);
      expect(p.file).toBe(file ?? '');
      expect(p.siaddr).toBe(siaddr);
      expect(hasOption(p, 66)).toBe(opt66);
      expect(d.log?.bootfile).toBe(file);
      expect(d.log?.client).toBe(ipxe ? 'ipxe' : 'pxe');
      if (ipxe)
        expect(getOption(p, 175)?.toString('hex')).toBe('b00101'); // 175.176 no-pxedhcp = 1
      else expect(hasOption(p, 175)).toBe(false);
    }
  });

  it('a script URL too long for the 128-byte file field goes in option 67 only', () => {
    const url = `http://10.77.0.1:8080/${'x'.repeat(150)}.ipxe`;
    const p = wire(respond(req({ userClass: 'iPXE' }), ctx({ ipxeScriptUrl: url })));
    expect(p.file).toBe('');
    expect(bootfileName(p)).toBe(url);
  });

  it('the constructed iPXE DISCOVER fixture gets the script and 175.176 = 1', () => {
    const hex = readFileSync(join(__dirname, '../test-fixtures/synthetic-ipxe-discover.hex'), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('');
    const d = respond(decodeDhcp(Buffer.from(hex, 'hex')), ctx({ ipxeScriptUrl: SCRIPT }));
    const p = wire(d);
    expect(d.log).toMatchObject({ event: 'offer', client: 'ipxe', bootfile: SCRIPT });
    expect(ipxeEncapsulated(p)).toEqual([{ code: 176, data: Buffer.from([1]) }]);
    expect(getOption(p, 97)?.length).toBe(17);
    expect(getOption(p, 61)?.toString('hex')).toBe('01525400770020');
  });
});

describe('the captured iPXE DISCOVER', () => {
  it('gets the script when one is set, pxelinux.0 otherwise, and 175.176 = 1 either way', () => {
    const hex = readFileSync(join(__dirname, '../test-fixtures/ipxe-discover.hex'), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('');
    const withScript = respond(decodeDhcp(Buffer.from(hex, 'hex')), ctx({ ipxeScriptUrl: SCRIPT }));
    expect(withScript.log).toMatchObject({ event: 'offer', client: 'ipxe', bootfile: SCRIPT });
    expect(ipxeEncapsulated(wire(withScript))).toEqual([{ code: 176, data: Buffer.from([1]) }]);
    const plain = respond(decodeDhcp(Buffer.from(hex, 'hex')), ctx({}));
    expect(plain.log).toMatchObject({ event: 'offer', client: 'ipxe', bootfile: 'pxelinux.0' });
    expect(ipxeEncapsulated(wire(plain))).toEqual([{ code: 176, data: Buffer.from([1]) }]);
  });
});

describe('REQUEST → ACK / NAK', () => {
  const cases: { name: string; r: Req; event: 'ack' | 'nak'; dest: object; ciaddr?: string }[] = [
    {
      name: 'SELECTING, our server id, the offered address',
      r: { requested: '10.77.0.50', server: '10.77.0.1' },
      event: 'ack',
      dest: BCAST,
    },
    {
      name: 'SELECTING, our server id, another address',
      r: { requested: '10.77.0.77', server: '10.77.0.1' },
      event: 'nak',
      dest: BCAST,
    },
    { name: 'INIT-REBOOT, the reserved address', r: { requested: '10.77.0.50' }, event: 'ack', dest: BCAST },
    {
      name: 'INIT-REBOOT, an address from another network',
      r: { requested: '192.168.1.20' },
      event: 'nak',
      dest: BCAST,
    },
    {
      name: 'RENEWING, ciaddr = reservation → unicast to ciaddr',
      r: { ciaddr: '10.77.0.50' },
      event: 'ack',
      dest: { address: '10.77.0.50', port: 68, via: 'unicast' },
      ciaddr: '10.77.0.50',
    },
    { name: 'RENEWING, wrong ciaddr → NAK broadcast', r: { ciaddr: '10.77.0.66' }, event: 'nak', dest: BCAST },
    { name: 'broadcast flag set', r: { requested: '10.77.0.50', flags: BROADCAST_FLAG }, event: 'ack', dest: BCAST },
  ];
  it.each(cases)('$name → $event', ({ r, event, dest, ciaddr }) => {
    const c = ctx();
    respond(req(), c); // DISCOVER first: the reservation exists
    const d = respond(req({ ...r, type: T.REQUEST }), c);
    const p = wire(d);
    expect(d.destination).toEqual(dest);
    expect(d.log?.event).toBe(event);
    expect(p.flags).toBe(r.flags ?? 0);
    if (event === 'ack') {
      expect(messageType(p)).toBe(T.ACK);
      expect(p.yiaddr).toBe('10.77.0.50');
      expect(p.ciaddr).toBe(ciaddr ?? '0.0.0.0');
      expect(leaseTime(p)).toBe(3600);
      expect(bootfileName(p)).toBe('pxelinux.0');
      expect(d.log?.ip).toBe('10.77.0.50');
    } else {
      expect(messageType(p)).toBe(T.NAK);
      expect(p).toMatchObject({ yiaddr: '0.0.0.0', siaddr: '0.0.0.0', ciaddr: '0.0.0.0', file: '' });
      expect(codes(p)).toEqual([53, 54, 56]);
      expect(getOption(p, 56)?.toString()).toBe('reserved address is 10.77.0.50');
      expect(serverId(p)).toBe('10.77.0.1');
    }
  });

  it('a REQUEST with no DISCOVER before (server restarted) still ACKs the reservation', () => {
    expect(respond(req({ type: T.REQUEST, requested: '10.77.0.50' }), ctx()).log?.event).toBe('ack');
  });

  it('a REQUEST naming another server: no reply, other-server-seen recorded, nothing reserved', () => {
    const c = ctx();
    const d = respond(req({ type: T.REQUEST, requested: '10.77.0.200', server: '10.77.0.254' }), c);
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({
      event: 'other-server-seen',
      server: '10.77.0.254',
      ip: '10.77.0.200',
      mac: MAC,
      nodeId: 'node-1',
    });
    expect(c.leases.get(MAC)).toBeUndefined();
    // reported for unenrolled MACs too: it is the server we care about
    expect(
      respond(req({ type: T.REQUEST, mac: STRANGER, server: '10.77.0.254', requested: '10.77.0.200' }), c).log,
    ).toMatchObject({ event: 'other-server-seen', server: '10.77.0.254' });
  });

  it('a REQUEST with neither option 50 nor ciaddr is ignored', () => {
    const d = respond(req({ type: T.REQUEST }), ctx());
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'ignored', reason: 'REQUEST with neither option 50 nor ciaddr' });
  });
});

describe('another DHCP server on the wire', () => {
  it('a BOOTREPLY from another server is reported (full mode)', () => {
    const d = respond(req({ op: 2, type: T.OFFER, server: '10.77.0.254', vc: null, arch: null }), ctx());
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'other-server-seen', server: '10.77.0.254' });
  });
  it('falls back to siaddr when the reply has no server id; our own replies are not reported', () => {
    expect(respond(req({ op: 2, type: T.ACK, siaddr: '10.77.0.253', vc: null, arch: null }), ctx()).log).toMatchObject({
      event: 'other-server-seen',
      server: '10.77.0.253',
    });
    expect(respond(req({ op: 2, type: T.ACK, server: '10.77.0.1', vc: null, arch: null }), ctx())).toEqual({});
  });
});

describe('RELEASE, DECLINE, INFORM', () => {
  it('RELEASE of the reserved address: lease inactive, reservation kept, no reply', () => {
    const c = ctx();
    respond(req(), c);
    const d = respond(req({ type: T.RELEASE, ciaddr: '10.77.0.50', server: '10.77.0.1' }), c);
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'release', ip: '10.77.0.50', nodeId: 'node-1' });
    expect((c.leases as InMemoryLeaseStore).list()).toEqual([{ mac: MAC, ip: '10.77.0.50', active: false }]);
  });

  it('RELEASE of another address is ignored', () => {
    const c = ctx();
    respond(req(), c);
    const d = respond(req({ type: T.RELEASE, ciaddr: '10.77.0.66' }), c);
    expect(d.log).toMatchObject({ event: 'ignored' });
    expect((c.leases as InMemoryLeaseStore).list()[0].active).toBe(true);
  });

  it('DECLINE is recorded, not answered', () => {
    const d = respond(req({ type: T.DECLINE, requested: '10.77.0.50', server: '10.77.0.1' }), ctx());
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'decline', ip: '10.77.0.50' });
  });

  it('INFORM → ACK to ciaddr:68 with configuration and boot options, no address and no lease time', () => {
    const d = respond(req({ type: T.INFORM, ciaddr: '10.77.0.50' }), ctx());
    const p = wire(d);
    expect(d.destination).toEqual({ address: '10.77.0.50', port: 68, via: 'unicast' });
    expect(d.log).toMatchObject({ event: 'inform', ip: '10.77.0.50' });
    expect(messageType(p)).toBe(T.ACK);
    expect(p.yiaddr).toBe('0.0.0.0');
    expect(p.ciaddr).toBe('10.77.0.50');
    expect(hasOption(p, 51)).toBe(false);
    expect(subnetMask(p)).toBe('255.255.255.0');
    expect(bootfileName(p)).toBe('pxelinux.0');
  });
});

describe('relayed requests (giaddr)', () => {
  const relay = '10.77.0.254';
  it.each([
    ['DISCOVER → OFFER', { type: T.DISCOVER }, T.OFFER],
    ['REQUEST → ACK', { type: T.REQUEST, requested: '10.77.0.50' }, T.ACK],
    ['INFORM → ACK', { type: T.INFORM, ciaddr: '10.77.0.50' }, T.ACK],
  ] as const)('%s goes to the relay on port 67 with giaddr kept', (_n, r, type) => {
    const d = respond(req({ ...r, giaddr: relay }), ctx());
    const p = wire(d);
    expect(d.destination).toEqual({ address: relay, port: 67, via: 'relay' });
    expect(messageType(p)).toBe(type);
    expect(p.giaddr).toBe(relay);
    expect(p.hops).toBe(0);
    expect(d.log?.relay).toBe(relay);
  });

  it('a NAK through a relay sets the broadcast bit (RFC 2131 §4.3.2)', () => {
    const d = respond(req({ type: T.REQUEST, requested: '10.77.0.77', giaddr: relay }), ctx());
    expect(d.destination).toEqual({ address: relay, port: 67, via: 'relay' });
    expect(wire(d).flags & BROADCAST_FLAG).toBe(BROADCAST_FLAG);
  });

  it('echoes option 82 (RFC 3046) as the last option', () => {
    const agent = option.raw(82, [1, 4, 0, 0, 0, 7]);
    const p = wire(respond(req({ giaddr: relay, extra: [agent, option.raw(61, [1, 2, 3])] }), ctx()));
    expect(p.options.at(-1)).toEqual(agent);
  });

  it('a relay from a subnet the range is not on is ignored', () => {
    const d = respond(req({ giaddr: '192.168.5.1' }), ctx());
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'ignored', relay: '192.168.5.1' });
  });
});

describe('proxy mode (PXE ProxyDHCP: boot options only)', () => {
  const proxy = { mode: 'proxy' as const };
  const on4011: ReceivedOn = { localPort: 4011, source: { address: '192.168.1.23', port: 68 } };

  it('DISCOVER from a PXE client on 67 → OFFER without address: only PXE options', () => {
    const uuid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 1)]);
    const c = ctx(proxy);
    const d = respond(req({ extra: [option.raw(97, uuid)] }), c, { localPort: 67 });
    const p = wire(d);
    expect(d.destination).toEqual(BCAST);
    expect(d.log).toMatchObject({ event: 'offer', proxy: true, bootfile: 'pxelinux.0' });
    expect(messageType(p)).toBe(T.OFFER);
    expect(p).toMatchObject({ yiaddr: '0.0.0.0', siaddr: '10.77.0.1', file: 'pxelinux.0' });
    expect(codes(p)).toEqual([53, 54, 66, 67, 60, 43, 97]);
    expect(getOption(p, 97)).toEqual(uuid);
    expect(c.leases.get(MAC)).toBeUndefined();
  });

  it('REQUEST on port 4011 → ACK back to the sender, ciaddr kept', () => {
    const d = respond(req({ type: T.REQUEST, ciaddr: '192.168.1.23', server: '10.77.0.1' }), ctx(proxy), on4011);
    const p = wire(d);
    expect(d.destination).toEqual({ address: '192.168.1.23', port: 68, via: 'unicast' });
    expect(messageType(p)).toBe(T.ACK);
    expect(p).toMatchObject({ yiaddr: '0.0.0.0', ciaddr: '192.168.1.23', file: 'pxelinux.0' });
    expect(hasOption(p, 51)).toBe(false);
    expect(d.log).toMatchObject({ event: 'ack', proxy: true });
  });

  it('iPXE in proxy mode gets the script and 175.176 = 1', () => {
    const p = wire(respond(req({ userClass: 'iPXE' }), ctx({ ...proxy, ipxeScriptUrl: SCRIPT })));
    expect(bootfileName(p)).toBe(SCRIPT);
    expect(getOption(p, 175)?.toString('hex')).toBe('b00101');
  });

  it.each([
    ['a non-PXE DISCOVER', req({ vc: null, arch: null }), {}, 'ignored'],
    [
      'a REQUEST on 67 (for the real DHCP server)',
      req({ type: T.REQUEST, requested: '192.168.1.23' }),
      { localPort: 67 },
      'ignored',
    ],
    [
      'a REQUEST on 67 naming the real DHCP server',
      req({ type: T.REQUEST, requested: '192.168.1.23', server: '192.168.1.1' }),
      { localPort: 67 },
      undefined,
    ],
    ['a RELEASE', req({ type: T.RELEASE, ciaddr: '192.168.1.23' }), { localPort: 67 }, 'ignored'],
    ['an unenrolled PXE client', req({ mac: STRANGER }), {}, 'ignored-unenrolled'],
  ] as const)('stays silent on %s', (_n, r, rx, event) => {
    const d = respond(r, ctx(proxy), rx);
    expect(d.reply).toBeUndefined();
    expect(d.log?.event).toBe(event);
  });
});

describe('robustness and purity', () => {
  it('ignores what it cannot serve, with a reason', () => {
    expect(respond(req({ type: 0 }), ctx()).log).toMatchObject({
      event: 'ignored',
      reason: expect.stringMatching(/BOOTP/),
    });
    expect(respond(req({ hlen: 8, mac: '52:54:00:77:00:20:00:00' }), ctx()).log).toMatchObject({
      event: 'ignored',
      reason: expect.stringMatching(/not Ethernet/),
    });
    expect(respond(req({ type: T.OFFER }), ctx()).log).toMatchObject({
      event: 'ignored',
      reason: 'OFFER is not a client message',
    });
  });

  it('a client option that does not parse is ignored, not thrown', () => {
    const d = respond(req({ extra: [option.raw(93, [0])] }), ctx());
    expect(d.reply).toBeUndefined();
    expect(d.log).toMatchObject({ event: 'ignored', reason: expect.stringMatching(/option 93/) });
  });

  it('uses the configured broadcast address (a subnet broadcast needs no extra route)', () => {
    expect(respond(req(), ctx({ broadcastAddress: '10.77.0.255' })).destination).toEqual({
      address: '10.77.0.255',
      port: 68,
      via: 'broadcast',
    });
  });

  it('is deterministic: same inputs, same bytes', () => {
    const a = respond(req({ userClass: 'iPXE' }), ctx({ ipxeScriptUrl: SCRIPT }));
    const b = respond(req({ userClass: 'iPXE' }), ctx({ ipxeScriptUrl: SCRIPT }));
    expect(encodeDhcp(a.reply as DhcpPacket)).toEqual(encodeDhcp(b.reply as DhcpPacket));
    expect(a.log).toEqual(b.log);
  });
});

describe('replies to the captured clients are the bytes they accepted', () => {
  // test-fixtures/*.reply.hex were sent by respond() in the capture lab and accepted by udhcpc/dhclient
  // (their hooks saw the address, siaddr, boot file and TFTP server): any change to these bytes is deliberate.
  const load = (f: string) =>
    Buffer.from(
      readFileSync(join(__dirname, '../test-fixtures', f), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join(''),
      'hex',
    );
  it.each([
    'udhcpc-discover',
    'udhcpc-request-selecting',
    'udhcpc-request-renewing',
    'dhclient-discover',
    'dhclient-request-selecting',
    'dhclient-request-init-reboot',
  ])('%s', (name) => {
    const c = ctx({ ipxeScriptUrl: SCRIPT }, new InMemoryLeaseStore(CONFIG.range, { exclude: ['10.77.0.1'] }));
    const d = respond(decodeDhcp(load(`${name}.hex`)), c, { localPort: 67 });
    expect(encodeDhcp(d.reply as DhcpPacket)).toEqual(load(`${name}.reply.hex`));
  });
});

describe('validateResponderConfig', () => {
  it('accepts a sound configuration', () => {
    expect(() =>
      validateResponderConfig({ ...CONFIG, ipxeScriptUrl: SCRIPT, bootfileUefiIa32: 'ia32.efi' }),
    ).not.toThrow();
  });
  it('names every problem', () => {
    const bad = {
      ...CONFIG,
      serverIp: '10.77.0',
      netmask: '255.0.255.0',
      range: { first: '10.77.0.90', last: '10.77.0.10' },
      leaseTimeS: 0,
      bootfileBios: '',
      mode: 'both',
    } as unknown as DhcpResponderConfig;
    expect(() => validateResponderConfig(bad)).toThrow(/serverIp.*mode.*leaseTimeS.*bootfileBios/);
    expect(() => validateResponderConfig({ ...CONFIG, netmask: '255.0.255.0' })).toThrow(/not contiguous/);
    expect(() => validateResponderConfig({ ...CONFIG, range: { first: '10.77.0.90', last: '10.77.0.10' } })).toThrow(
      /is empty/,
    );
    expect(() => validateResponderConfig({ ...CONFIG, range: { first: '10.77.0.90', last: '10.77.1.10' } })).toThrow(
      /more than one subnet/,
    );
  });
});
