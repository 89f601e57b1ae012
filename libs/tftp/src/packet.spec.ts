import { TftpPacketError, tftpErrorMessage } from './errors';
import { fromNetascii, toNetascii } from './netascii';
import { type TftpPacket, dataHeader, decodePacket, encodePacket, errorPacket } from './packet';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('TFTP codec', () => {
  it.each<[string, TftpPacket]>([
    ['RRQ', { type: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: new Map() }],
    [
      'RRQ with options',
      {
        type: 'RRQ',
        filename: 'pxelinux.cfg/01-52-54-00-12-34-56',
        mode: 'netascii',
        options: new Map([
          ['blksize', '1468'],
          ['tsize', '0'],
          ['windowsize', '8'],
          ['timeout', '3'],
        ]),
      },
    ],
    ['WRQ', { type: 'WRQ', filename: 'ünïcode/ファイル', mode: 'octet', options: new Map() }],
    ['DATA', { type: 'DATA', block: 65535, data: Buffer.from('hello') }],
    ['empty DATA', { type: 'DATA', block: 0, data: Buffer.alloc(0) }],
    ['max DATA', { type: 'DATA', block: 1, data: Buffer.alloc(65464, 7) }],
    ['ACK', { type: 'ACK', block: 0 }],
    ['ACK 65535', { type: 'ACK', block: 65535 }],
    ['ERROR', { type: 'ERROR', code: 1, message: 'file not found' }],
    ['ERROR empty message', { type: 'ERROR', code: 8, message: '' }],
    [
      'OACK',
      {
        type: 'OACK',
        options: new Map([
          ['blksize', '1428'],
          ['tsize', '123'],
        ]),
      },
    ],
  ])('round-trips %s', (_n, p) => {
    expect(decodePacket(encodePacket(p))).toEqual(p);
  });

  it('encodes the RFC 1350 wire format', () => {
    expect(
      encodePacket({ type: 'RRQ', filename: 'a', mode: 'octet', options: new Map([['blksize', '1468']]) }),
    ).toEqual(bytes([0, 1], 'a', [0], 'octet', [0], 'blksize', [0], '1468', [0]));
    expect(encodePacket({ type: 'ACK', block: 0x1234 })).toEqual(hex('0004 1234'));
    expect(encodePacket({ type: 'DATA', block: 2, data: Buffer.from('xy') })).toEqual(hex('0003 0002 7879'));
    expect(errorPacket(2)).toEqual(bytes([0, 5, 0, 2], 'access violation', [0]));
    expect(dataHeader(65536)).toEqual(hex('0003 0000'));
    expect(dataHeader(65537)).toEqual(hex('0003 0001'));
  });

  it('decodes mode and option names case-insensitively, keeping values', () => {
    const p = decodePacket(
      bytes([0, 1], 'PXELINUX.0', [0], 'OcTeT', [0], 'BLKSIZE', [0], '1468', [0], 'TSize', [0], '0', [0]),
    );
    expect(p).toEqual({
      type: 'RRQ',
      filename: 'PXELINUX.0',
      mode: 'octet',
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '0'],
      ]),
    });
    expect(decodePacket(bytes([0, 1], 'f', [0], 'NETASCII', [0]))).toMatchObject({ mode: 'netascii' });
  });

  it('tolerates NUL padding after a request, not junk', () => {
    expect(decodePacket(bytes([0, 1], 'f', [0], 'octet', [0, 0, 0, 0]))).toMatchObject({ options: new Map() });
    expect(decodePacket(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '512', [0, 0, 0]))).toMatchObject({
      options: new Map([['blksize', '512']]),
    });
    expect(() => decodePacket(bytes([0, 1], 'f', [0], 'octet', [0], 'x'))).toThrow(TftpPacketError);
  });

  it('an option with an empty value is kept (negotiation ignores it)', () => {
    expect(decodePacket(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0, 0]))).toMatchObject({
      options: new Map([['blksize', '']]),
    });
  });

  it.each<[string, Buffer, RegExp]>([
    ['empty', Buffer.alloc(0), /truncated/],
    ['one byte', Buffer.from([0]), /truncated/],
    ['opcode 0', hex('0000 0000'), /unknown opcode 0/],
    ['opcode 7', hex('0007 0000'), /unknown opcode 7/],
    ['opcode 0xffff', hex('ffff'), /unknown opcode 65535/],
    ['RRQ without strings', hex('0001'), /truncated RRQ/],
    ['RRQ without NUL after the name', bytes([0, 1], 'file'), /not NUL-terminated/],
    ['RRQ without mode', bytes([0, 1], 'file', [0]), /no mode/],
    ['RRQ mode without NUL', bytes([0, 1], 'file', [0], 'octet'), /not NUL-terminated/],
    ['RRQ empty file name', bytes([0, 1, 0], 'octet', [0]), /empty file name/],
    ['RRQ mode mail', bytes([0, 1], 'f', [0], 'mail', [0]), /unsupported RRQ mode "mail"/],
    ['RRQ unknown mode', bytes([0, 2], 'f', [0], 'binary', [0]), /unsupported WRQ mode/],
    ['RRQ option without value', bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0]), /has no value/],
    [
      'RRQ duplicate option',
      bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '8', [0], 'BLKSIZE', [0], '9', [0]),
      /given twice/,
    ],
    ['RRQ empty option name', bytes([0, 1], 'f', [0], 'octet', [0, 0], '8', [0]), /empty option name/],
    ['RRQ bad UTF-8 name', bytes([0, 1], [0xff, 0xfe], [0], 'octet', [0]), /UTF-8/],
    ['DATA truncated', hex('0003 00'), /truncated DATA/],
    ['DATA too long', Buffer.concat([hex('0003 0001'), Buffer.alloc(65465)]), /too long/],
    ['ACK truncated', hex('0004 01'), /truncated ACK/],
    ['ACK too long', hex('0004 0001 00'), /malformed ACK/],
    ['ERROR truncated', hex('0005 00'), /truncated ERROR/],
    ['ERROR without message', hex('0005 0001'), /truncated ERROR/],
    ['ERROR without NUL', bytes([0, 5, 0, 1], 'oops'), /not NUL-terminated/],
    ['ERROR with trailing data', bytes([0, 5, 0, 1], 'oops', [0], 'x', [0]), /data after the message/],
    ['OACK empty', hex('0006'), /truncated OACK/],
    ['OACK only padding', hex('0006 00'), /no options/],
  ])('rejects %s', (_n, buf, re) => {
    expect(() => decodePacket(buf)).toThrow(TftpPacketError);
    expect(() => decodePacket(buf)).toThrow(re);
  });

  it('refuses to encode what cannot be decoded', () => {
    expect(() => encodePacket({ type: 'RRQ', filename: 'a\0b', mode: 'octet', options: new Map() })).toThrow(
      TftpPacketError,
    );
    expect(() => encodePacket({ type: 'RRQ', filename: '', mode: 'octet', options: new Map() })).toThrow(
      TftpPacketError,
    );
    expect(() => encodePacket({ type: 'ACK', block: 65536 })).toThrow(TftpPacketError);
    expect(() => encodePacket({ type: 'OACK', options: new Map() })).toThrow(TftpPacketError);
    expect(() => encodePacket({ type: 'DATA', block: 1, data: Buffer.alloc(65465) })).toThrow(TftpPacketError);
    expect(decodePacket(encodePacket({ type: 'ERROR', code: 0, message: 'a\0b' }))).toEqual({
      type: 'ERROR',
      code: 0,
      message: 'a b',
    });
  });

  it('names the standard error codes', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(tftpErrorMessage)).toEqual([
      'not defined',
      'file not found',
      'access violation',
      'disk full or allocation exceeded',
      'illegal TFTP operation',
      'unknown transfer ID',
      'file already exists',
      'no such user',
      'option negotiation refused',
    ]);
    expect(tftpErrorMessage(99)).toBe('not defined');
  });

  it('fuzz: 24 000 random and mutated datagrams only ever raise TftpPacketError', () => {
    // mulberry32: a small seeded PRNG, so a failure reproduces.
    let seed = 0x7f7f1234;
    const rnd = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const int = (n: number) => Math.floor(rnd() * n);
    const valid = [
      encodePacket({
        type: 'RRQ',
        filename: 'pxelinux.0',
        mode: 'octet',
        options: new Map([
          ['blksize', '1468'],
          ['tsize', '0'],
        ]),
      }),
      encodePacket({ type: 'WRQ', filename: 'x', mode: 'netascii', options: new Map() }),
      encodePacket({ type: 'DATA', block: 7, data: Buffer.from('payload') }),
      encodePacket({ type: 'ACK', block: 9 }),
      encodePacket({ type: 'ERROR', code: 3, message: 'disk full' }),
      encodePacket({ type: 'OACK', options: new Map([['windowsize', '8']]) }),
    ];
    const alphabet = [0, 0, 0, 1, 2, 3, 4, 5, 6, 0x41, 0x6f, 0xff, 0x80, 0xc3];
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 24_000; i++) {
      let b: Buffer;
      const kind = i % 4;
      if (kind === 0) {
        b = Buffer.alloc(int(64));
        for (let j = 0; j < b.length; j++) b[j] = int(256);
      } else if (kind === 1) {
        b = Buffer.alloc(int(48));
        for (let j = 0; j < b.length; j++) b[j] = alphabet[int(alphabet.length)];
        if (b.length >= 2) b[1] = int(8);
        if (b.length >= 1) b[0] = 0;
      } else {
        b = Buffer.from(valid[int(valid.length)]);
        const edits = 1 + int(4);
        for (let e = 0; e < edits; e++) {
          const op = int(4);
          if (op === 0 && b.length > 0) b[int(b.length)] = int(256);
          else if (op === 1) b = b.subarray(0, int(b.length + 1));
          else if (op === 2)
            b = Buffer.concat([
              b.subarray(0, int(b.length + 1)),
              Buffer.from([alphabet[int(alphabet.length)]]),
              b.subarray(int(b.length + 1)),
            ]);
          else b = Buffer.concat([b, Buffer.from([int(2) ? 0 : int(256)])]);
        }
      }
      let p: TftpPacket;
      try {
        p = decodePacket(b);
      } catch (e) {
        if (!(e instanceof TftpPacketError)) throw new Error(`input ${b.toString('hex')} raised ${String(e)}`);
        rejected++;
        continue;
      }
      decoded++;
      // Whatever decodes re-encodes to a packet that decodes and re-encodes identically.
      const again = encodePacket(p);
      if (!encodePacket(decodePacket(again)).equals(again))
        throw new Error(`input ${b.toString('hex')} does not round-trip`);
    }
    expect(decoded + rejected).toBe(24_000);
    expect(decoded).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(1000);
  });
});

describe('netascii', () => {
  it('converts LF to CR LF and CR to CR NUL, and back', () => {
    const text = Buffer.from('a\nb\r\nc\rd');
    const wire = toNetascii(text);
    expect(wire).toEqual(Buffer.from('a\r\nb\r\0\r\nc\r\0d', 'latin1'));
    expect(fromNetascii(wire)).toEqual(text);
    const plain = Buffer.from('no line ends');
    expect(toNetascii(plain)).toBe(plain);
  });
});
