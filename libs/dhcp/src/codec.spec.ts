import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  BOOTP_MIN_LENGTH,
  DhcpMessageType,
  DhcpOptionCode,
  MalformedDhcp,
  bootfileName,
  clientArch,
  clientId,
  clientUuid,
  decodeDhcp,
  encodeDhcp,
  getOption,
  ipxeEncapsulated,
  isBroadcast,
  leaseTime,
  macOf,
  maxMessageSize,
  messageType,
  option,
  parameterRequestList,
  pxeVendorOptions,
  requestedIp,
  routers,
  serverId,
  subnetMask,
  tftpServerName,
  userClass,
  vendorClass,
  vendorSpecific,
  type DhcpPacket,
  type OptionArea,
} from './codec';

const DIR = join(__dirname, '../test-fixtures');
const load = (name: string): Buffer =>
  Buffer.from(
    readFileSync(join(DIR, name), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('')
      .trim(),
    'hex',
  );
const FIXTURES = readdirSync(DIR)
  .filter((f) => f.endsWith('.hex'))
  .sort();

function packet(over: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 3,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from('525400770020', 'hex'),
    sname: '',
    file: '',
    options: [option.u8(53, 1)],
    ...over,
  };
}

function malformed(fn: () => unknown): MalformedDhcp {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedDhcp);
    return e as MalformedDhcp;
  }
  throw new Error('expected MalformedDhcp');
}

describe('captured packets (test-fixtures/*.hex)', () => {
  it('has the fixtures from real udhcpc and dhclient runs', () => {
    expect(FIXTURES).toEqual(
      expect.arrayContaining([
        'udhcpc-discover.hex',
        'udhcpc-request-selecting.hex',
        'udhcpc-request-renewing.hex',
        'udhcpc-release.hex',
        'dhclient-discover.hex',
        'dhclient-request-selecting.hex',
        'dhclient-request-init-reboot.hex',
        'dhclient-release.hex',
        'synthetic-ipxe-discover.hex',
        'ipxe-discover.hex',
        'ipxe-request-selecting.hex',
      ]),
    );
  });

  it.each(FIXTURES)('%s decodes and re-encodes byte for byte', (name) => {
    const bytes = load(name);
    const p = decodeDhcp(bytes);
    expect(encodeDhcp(p)).toEqual(bytes);
    // and so does a copy stripped of everything but the wire record (no hidden state)
    expect(encodeDhcp({ ...p, options: p.options.map((o) => ({ ...o })) })).toEqual(bytes);
  });

  it('udhcpc DISCOVER: PXE vendor class, arch 0, options it asked for', () => {
    const p = decodeDhcp(load('udhcpc-discover.hex'));
    expect(p.op).toBe(1);
    expect(macOf(p)).toBe('52:54:00:77:00:20');
    expect(messageType(p)).toBe(DhcpMessageType.DISCOVER);
    expect(vendorClass(p)).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(clientArch(p)).toEqual([0]);
    expect(parameterRequestList(p)).toEqual([1, 3, 6, 12, 15, 28, 42, 66, 67]);
    expect(clientId(p)?.toString('hex')).toBe('01525400770020');
    expect(maxMessageSize(p)).toBe(576);
    expect(userClass(p)).toEqual([]);
    expect(requestedIp(p)).toBeUndefined();
    expect(isBroadcast(p)).toBe(false);
  });

  it('udhcpc REQUEST (selecting) names the offered address and our server', () => {
    const p = decodeDhcp(load('udhcpc-request-selecting.hex'));
    expect(messageType(p)).toBe(DhcpMessageType.REQUEST);
    expect(requestedIp(p)).toBe('10.77.0.50');
    expect(serverId(p)).toBe('10.77.0.1');
    expect(p.ciaddr).toBe('0.0.0.0');
  });

  it('udhcpc REQUEST (renewing) carries ciaddr and neither 50 nor 54', () => {
    const p = decodeDhcp(load('udhcpc-request-renewing.hex'));
    expect(p.ciaddr).toBe('10.77.0.50');
    expect(requestedIp(p)).toBeUndefined();
    expect(serverId(p)).toBeUndefined();
  });

  it('dhclient DISCOVER / INIT-REBOOT / RELEASE', () => {
    const d = decodeDhcp(load('dhclient-discover.hex'));
    expect(messageType(d)).toBe(DhcpMessageType.DISCOVER);
    expect(vendorClass(d)).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(clientArch(d)).toEqual([0]);
    expect(parameterRequestList(d)).toEqual([1, 3, 66, 67]);
    expect(d.wire?.options.end).toBe(true);
    expect(d.wire?.options.trailer.length).toBeGreaterThan(0); // zero padding after END up to 300 bytes
    const r = decodeDhcp(load('dhclient-request-init-reboot.hex'));
    expect(requestedIp(r)).toBe('10.77.0.50');
    expect(serverId(r)).toBeUndefined();
    const rel = decodeDhcp(load('dhclient-release.hex'));
    expect(messageType(rel)).toBe(DhcpMessageType.RELEASE);
    expect(rel.ciaddr).toBe('10.77.0.50');
    expect(serverId(rel)).toBe('10.77.0.1');
  });

  it('our replies (what the clients accepted) read back with the PXE options', () => {
    const p = decodeDhcp(load('dhclient-request-selecting.reply.hex'));
    expect(p.op).toBe(2);
    expect(messageType(p)).toBe(DhcpMessageType.ACK);
    expect(p.yiaddr).toBe('10.77.0.50');
    expect(p.siaddr).toBe('10.77.0.1');
    expect(p.file).toBe('pxelinux.0');
    expect(subnetMask(p)).toBe('255.255.255.0');
    expect(routers(p)).toEqual(['10.77.0.1']);
    expect(leaseTime(p)).toBe(3600);
    expect(tftpServerName(p)).toBe('10.77.0.1');
    expect(bootfileName(p)).toBe('pxelinux.0');
    expect(vendorClass(p)).toBe('PXEClient');
    expect(pxeVendorOptions(p)).toEqual({ discoveryControl: 8, all: [{ code: 6, data: Buffer.from([8]) }] });
  });

  it('the (constructed) iPXE DISCOVER: user class iPXE, option 175 with sub-options', () => {
    const p = decodeDhcp(load('synthetic-ipxe-discover.hex'));
    expect(userClass(p)).toEqual(['iPXE']);
    const encap = ipxeEncapsulated(p) ?? [];
    expect(encap.map((o) => o.code)).toEqual([0x13, 0x15, 0x17, 0x18, 0x21, 0x27, 0xeb, 0xb1]);
    expect(clientUuid(p)?.length).toBe(17);
    expect(maxMessageSize(p)).toBe(1472);
  });
});

describe('the captured iPXE packets (QEMU iPXE ROM during the PXE boot test)', () => {
  it('DISCOVER and REQUEST carry user class iPXE, option 175, PXE vendor class and arch 0', () => {
    for (const f of ['ipxe-discover.hex', 'ipxe-request-selecting.hex']) {
      const p = decodeDhcp(load(f));
      expect(userClass(p)).toEqual(['iPXE']);
      expect(vendorClass(p)).toBe('PXEClient:Arch:00000:UNDI:002001');
      expect((ipxeEncapsulated(p) ?? []).length).toBeGreaterThan(0);
      expect(macOf(p)).toBe('52:54:00:77:00:20');
    }
  });
});

describe('encodeDhcp', () => {
  it('writes END and zero-pads to 300 bytes (RFC 1542) a packet built from scratch', () => {
    const b = encodeDhcp(packet());
    expect(b.length).toBe(BOOTP_MIN_LENGTH);
    expect(b.subarray(236, 240).toString('hex')).toBe('63825363');
    expect([...b.subarray(240, 244)]).toEqual([53, 1, 1, 255]);
    expect(b.subarray(244).every((x) => x === 0)).toBe(true);
    expect(encodeDhcp(packet(), { minLength: 0 }).length).toBe(244);
  });

  it('writes the BOOTP header fields where RFC 2131 puts them', () => {
    const b = encodeDhcp(
      packet({
        op: 2,
        hops: 1,
        ciaddr: '1.2.3.4',
        yiaddr: '5.6.7.8',
        siaddr: '9.10.11.12',
        giaddr: '13.14.15.16',
        sname: 'srv',
        file: 'pxelinux.0',
      }),
    );
    expect(b.subarray(0, 12).toString('hex')).toBe('0201060112345678' + '0003' + '8000');
    expect([...b.subarray(12, 28)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(b.subarray(28, 34).toString('hex')).toBe('525400770020');
    expect(b.subarray(34, 44).every((x) => x === 0)).toBe(true);
    expect(b.toString('latin1', 44, 47)).toBe('srv');
    expect(b.toString('latin1', 108, 118)).toBe('pxelinux.0');
    const p = decodeDhcp(b);
    expect(p).toMatchObject({
      op: 2,
      hops: 1,
      xid: 0x12345678,
      secs: 3,
      flags: 0x8000,
      sname: 'srv',
      file: 'pxelinux.0',
      giaddr: '13.14.15.16',
    });
  });

  it('splits options longer than 255 bytes into several instances and getOption joins them (RFC 3396)', () => {
    const long = Buffer.alloc(600, 0xab);
    const b = encodeDhcp(packet({ options: [option.u8(53, 1), option.raw(77, long), option.u8(1, 7)] }));
    const p = decodeDhcp(b);
    expect(p.options.filter((o) => o.code === 77).map((o) => o.data.length)).toEqual([255, 255, 90]);
    expect(getOption(p, 77)).toEqual(long);
    expect(encodeDhcp(p)).toEqual(b);
  });

  it('joins split instances that are not adjacent, in wire order', () => {
    const p = decodeDhcp(
      encodeDhcp(
        packet({ options: [option.u8(53, 1), option.text(60, 'PXE'), option.u8(1, 0), option.text(60, 'Client')] }),
      ),
    );
    expect(vendorClass(p)).toBe('PXEClient');
  });

  it('rejects values that do not fit the wire format with RangeError', () => {
    expect(() => encodeDhcp(packet({ xid: -1 }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ ciaddr: '1.2.3' }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ chaddr: Buffer.alloc(17) }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ file: 'x'.repeat(129) }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ options: [{ code: 255, data: Buffer.alloc(0) }] }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ options: [{ code: 0, data: Buffer.alloc(1) }] }))).toThrow(RangeError);
    expect(() => encodeDhcp(packet({ options: [{ code: 1, data: Buffer.alloc(4), area: 'file' }] }))).toThrow(
      /option 52/,
    );
  });
});

describe('option overload (option 52)', () => {
  const overloads: [number, OptionArea[], string][] = [
    [1, ['file'], 'sname stays text'],
    [2, ['sname'], 'file stays text'],
    [3, ['file', 'sname'], 'both carry options'],
  ];
  it.each(overloads)('overload %i puts options in %j (%s), read in the order options, file, sname', (value, areas) => {
    const opts = [option.u8(53, 3), option.u8(52, value), option.text(60, 'PXE')];
    if (areas.includes('file'))
      opts.push({ ...option.text(60, 'Cli'), area: 'file' }, { ...option.ip(50, '10.0.0.9'), area: 'file' });
    if (areas.includes('sname')) opts.push({ ...option.text(60, 'ent'), area: 'sname' });
    const p0 = packet({
      options: opts,
      sname: areas.includes('sname') ? '' : 'host',
      file: areas.includes('file') ? '' : 'boot.0',
    });
    const b = encodeDhcp(p0);
    const p = decodeDhcp(b);
    expect(encodeDhcp(p)).toEqual(b);
    expect(p.sname).toBe(areas.includes('sname') ? '' : 'host');
    expect(p.file).toBe(areas.includes('file') ? '' : 'boot.0');
    const want = 'PXE' + (areas.includes('file') ? 'Cli' : '') + (areas.includes('sname') ? 'ent' : '');
    expect(vendorClass(p)).toBe(want);
    if (areas.includes('file')) {
      expect(requestedIp(p)).toBe('10.0.0.9');
      expect(b[108]).toBe(60); // first option of the file field
    }
    if (areas.includes('sname')) expect(b[44]).toBe(60);
  });

  it('a hand-made overloaded packet (options in file, END, then trailing bytes) round-trips', () => {
    const b = Buffer.from(encodeDhcp(packet({ options: [option.u8(53, 1), option.u8(52, 1)] })));
    b.set([67, 4, 0x61, 0x62, 0x63, 0x64, 255, 0x99], 108); // file: option 67 "abcd", END, garbage
    const p = decodeDhcp(b);
    expect(bootfileName(p)).toBe('abcd');
    expect(p.options.at(-1)).toEqual({ code: 67, data: Buffer.from('abcd'), area: 'file' });
    expect(p.wire?.fileArea?.trailer[0]).toBe(0x99);
    expect(encodeDhcp(p)).toEqual(b);
  });

  it('option 52 inside file/sname does not overload further', () => {
    const b = Buffer.from(encodeDhcp(packet({ options: [option.u8(53, 1), option.u8(52, 1)] })));
    b.set([52, 1, 2, 255], 108);
    b.set([1, 2, 3], 44); // sname: junk that would not parse as options
    const p = decodeDhcp(b);
    expect(p.sname).toBe('\x01\x02\x03');
    expect(encodeDhcp(p)).toEqual(b);
  });
});

describe('pad, END and raw preservation', () => {
  it('keeps pad bytes between options as code-0 entries', () => {
    const b = Buffer.from(encodeDhcp(packet(), { minLength: 0 }));
    const withPads = Buffer.concat([b.subarray(0, 240), Buffer.from([0, 0, 53, 1, 1, 0, 255, 0, 0, 7])]);
    const p = decodeDhcp(withPads);
    expect(p.options.map((o) => o.code)).toEqual([0, 0, 53, 0]);
    expect(messageType(p)).toBe(1);
    expect(getOption(p, 0)).toBeUndefined();
    expect(p.wire?.options.trailer).toEqual(Buffer.from([0, 0, 7]));
    expect(encodeDhcp(p)).toEqual(withPads);
  });

  it('accepts options that run to the end of the datagram without END, and an empty options field', () => {
    const b = Buffer.from(encodeDhcp(packet(), { minLength: 0 }));
    const noEnd = b.subarray(0, b.length - 1);
    const p = decodeDhcp(noEnd);
    expect(p.wire?.options.end).toBe(false);
    expect(encodeDhcp(p)).toEqual(noEnd);
    const bare = b.subarray(0, 240);
    expect(decodeDhcp(bare).options).toEqual([]);
    expect(encodeDhcp(decodeDhcp(bare))).toEqual(bare);
  });

  it('keeps chaddr bytes past hlen and sname/file bytes after the NUL, until the field is changed', () => {
    const b = Buffer.from(encodeDhcp(packet({ sname: 'a', file: 'pxelinux.0' })));
    b[40] = 0xee; // chaddr byte 12, past hlen 6
    b[46] = 0x41; // sname: "a\0A"
    b[120] = 0x42; // file: "pxelinux.0\0…B"
    const p = decodeDhcp(b);
    expect(macOf(p)).toBe('52:54:00:77:00:20');
    expect(p.sname).toBe('a');
    expect(p.file).toBe('pxelinux.0');
    expect(encodeDhcp(p)).toEqual(b);
    const changed = encodeDhcp({ ...p, file: 'bootx64.efi', chaddr: Buffer.from('020000000001', 'hex') });
    expect(changed.toString('latin1', 108, 120)).toBe('bootx64.efi\0');
    expect(changed[120]).toBe(0);
    expect(changed[40]).toBe(0);
    expect(changed[46]).toBe(0x41); // sname untouched → still raw
    const shorter = encodeDhcp({ ...p, hlen: 4, chaddr: p.chaddr.subarray(0, 4) });
    expect(shorter.subarray(28, 44).toString('hex')).toBe('52540077' + '00'.repeat(12));
  });
});

describe('MalformedDhcp', () => {
  const good = encodeDhcp(packet({ options: [option.u8(53, 1), option.text(60, 'PXEClient')] }), { minLength: 0 });
  const cases: [string, Buffer, string][] = [
    ['empty datagram', Buffer.alloc(0), 'truncated-header'],
    ['header cut at 100 bytes', good.subarray(0, 100), 'truncated-header'],
    ['cut inside the cookie', good.subarray(0, 238), 'truncated-header'],
    ['op 0', Buffer.concat([Buffer.from([0]), good.subarray(1)]), 'bad-op'],
    ['op 3', Buffer.concat([Buffer.from([3]), good.subarray(1)]), 'bad-op'],
    ['hlen 17', Buffer.concat([good.subarray(0, 2), Buffer.from([17]), good.subarray(3)]), 'bad-hlen'],
    [
      'BOOTP vendor field instead of the cookie',
      Buffer.concat([good.subarray(0, 236), Buffer.from('63825364', 'hex'), good.subarray(240)]),
      'bad-cookie',
    ],
    ['option without its length byte', Buffer.concat([good.subarray(0, 240), Buffer.from([53])]), 'option-truncated'],
    [
      'option length past the end',
      Buffer.concat([good.subarray(0, 240), Buffer.from([60, 9, 0x50, 0x58])]),
      'option-truncated',
    ],
    ['overload of 2 bytes', Buffer.concat([good.subarray(0, 240), Buffer.from([52, 2, 1, 1, 255])]), 'bad-overload'],
    ['overload value 4', Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 4, 255])]), 'bad-overload'],
    [
      'overloaded file with an option running past 128 bytes',
      (() => {
        const b = Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 1, 255])]);
        b.set([67, 200], 108);
        return b;
      })(),
      'option-truncated',
    ],
    [
      'overloaded sname without length byte at its end',
      (() => {
        const b = Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 2, 255])]);
        b.fill(0, 44, 108);
        b[107] = 12;
        return b;
      })(),
      'option-truncated',
    ],
  ];
  it.each(cases.map(([name, bytes, reason]) => [name, reason, bytes] as const))('%s → %s', (_name, reason, bytes) => {
    expect(malformed(() => decodeDhcp(bytes)).reason).toBe(reason);
  });

  it('messages say what is wrong and where', () => {
    const e = malformed(() => decodeDhcp(cases[8][1]));
    expect(e.message).toMatch(/option 60 at offset 240 .* length 9 runs past the end/);
    expect(e.offset).toBe(240);
    expect(e.name).toBe('MalformedDhcp');
  });

  it('typed views reject option values of the wrong size with MalformedDhcp', () => {
    const p = (code: number, data: number[]) =>
      decodeDhcp(encodeDhcp(packet({ options: [{ code, data: Buffer.from(data) }] })));
    expect(malformed(() => messageType(p(53, [1, 2]))).reason).toBe('bad-option-length');
    expect(malformed(() => requestedIp(p(50, [10, 0, 0]))).reason).toBe('bad-option-length');
    expect(malformed(() => serverId(p(54, []))).reason).toBe('bad-option-length');
    expect(malformed(() => routers(p(3, [1, 2, 3, 4, 5]))).reason).toBe('bad-option-length');
    expect(malformed(() => clientArch(p(93, [0]))).reason).toBe('bad-option-length');
    expect(malformed(() => maxMessageSize(p(57, [2]))).reason).toBe('bad-option-length');
    expect(malformed(() => leaseTime(p(51, [0, 0, 1]))).reason).toBe('bad-option-length');
    expect(malformed(() => vendorSpecific(p(43, [6, 5, 8]))).reason).toBe('bad-suboption');
    expect(malformed(() => pxeVendorOptions(p(43, [6, 2, 8, 8, 255]))).reason).toBe('bad-suboption');
    expect(malformed(() => ipxeEncapsulated(p(175, [176]))).reason).toBe('bad-suboption');
  });
});

describe('typed views and builders', () => {
  it('option 93 may list several architectures (RFC 4578)', () => {
    const p = decodeDhcp(encodeDhcp(packet({ options: [option.raw(93, [0, 7, 0, 9])] })));
    expect(clientArch(p)).toEqual([7, 9]);
  });

  it('user class: RFC 3004 list, or one bare string (iPXE, dhclient)', () => {
    const p = (data: Buffer) => decodeDhcp(encodeDhcp(packet({ options: [option.raw(77, data)] })));
    expect(userClass(p(Buffer.from('iPXE')))).toEqual(['iPXE']);
    expect(userClass(p(Buffer.from('\x04iPXE\x03foo', 'latin1')))).toEqual(['iPXE', 'foo']);
    expect(userClass(p(Buffer.from('\x09iPXE', 'latin1')))).toEqual(['\x09iPXE']);
  });

  it('sub-option parsing skips pads and stops at END', () => {
    const p = decodeDhcp(encodeDhcp(packet({ options: [option.raw(43, [0, 6, 1, 8, 255, 9, 9])] })));
    expect(vendorSpecific(p)).toEqual([{ code: 6, data: Buffer.from([8]) }]);
  });

  it('builders produce the wire bytes', () => {
    expect(option.u16(57, 1472).data.toString('hex')).toBe('05c0');
    expect(option.u32(51, 3600).data.toString('hex')).toBe('00000e10');
    expect(option.ips(3, ['10.0.0.1', '10.0.0.2']).data.toString('hex')).toBe('0a0000010a000002');
    expect(option.encap(DhcpOptionCode.VENDOR_SPECIFIC, [option.u8(6, 8)], true).data.toString('hex')).toBe('060108ff');
    expect(option.encap(DhcpOptionCode.IPXE_ENCAP, [option.u8(176, 1)]).data.toString('hex')).toBe('b00101');
    expect(() => option.encap(43, [option.raw(1, Buffer.alloc(256))])).toThrow(RangeError);
  });
});
