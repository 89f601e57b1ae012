import { negotiateOptions, resolveLimits } from './options';

const req = (o: Record<string, string>) => new Map(Object.entries(o));
const oack = (n: { oack: Map<string, string> }) => Object.fromEntries(n.oack);

describe('option negotiation', () => {
  it('without options: defaults and no OACK', () => {
    const n = negotiateOptions(new Map(), { mode: 'octet', fileSize: 10 });
    expect(n).toEqual({ blksize: 512, windowsize: 1, oack: new Map() });
  });

  it('echoes only what was asked and accepted, in the client order', () => {
    const n = negotiateOptions(
      req({ tsize: '0', multicast: '', blksize: '1468', 'x-vendor': '1', windowsize: '8', timeout: '3' }),
      { mode: 'octet', fileSize: 4242 },
    );
    expect([...n.oack]).toEqual([
      ['tsize', '4242'],
      ['blksize', '1468'],
      ['windowsize', '8'],
      ['timeout', '3'],
    ]);
    expect(n).toMatchObject({ blksize: 1468, windowsize: 8, timeoutMs: 3000, tsize: 4242 });
  });

  it('only tsize → OACK with tsize alone (PXE ROMs ask for the size first)', () => {
    expect(oack(negotiateOptions(req({ tsize: '0' }), { mode: 'octet', fileSize: 4242 }))).toEqual({ tsize: '4242' });
  });

  it('blksize: caps at maxBlksize and 65464, ignores values below 8 or not decimal', () => {
    expect(negotiateOptions(req({ blksize: '65464' }), { mode: 'octet' }).blksize).toBe(65464);
    expect(oack(negotiateOptions(req({ blksize: '99999' }), { mode: 'octet' }))).toEqual({ blksize: '65464' });
    expect(oack(negotiateOptions(req({ blksize: '65464' }), { mode: 'octet', maxBlksize: 1468 }))).toEqual({
      blksize: '1468',
    });
    expect(oack(negotiateOptions(req({ blksize: '1024' }), { mode: 'octet', maxBlksize: 1468 }))).toEqual({
      blksize: '1024',
    });
    expect(oack(negotiateOptions(req({ blksize: '8' }), { mode: 'octet' }))).toEqual({ blksize: '8' });
    for (const bad of ['7', '0', '-1', '1e3', ' 512', '0x200', '', '512.5', '99999999999']) {
      const n = negotiateOptions(req({ blksize: bad }), { mode: 'octet' });
      expect(n.oack.size).toBe(0);
      expect(n.blksize).toBe(512);
    }
  });

  it('timeout: 1..255 seconds echoed as sent, otherwise ignored', () => {
    expect(negotiateOptions(req({ timeout: '1' }), { mode: 'octet' })).toMatchObject({
      timeoutMs: 1000,
      oack: new Map([['timeout', '1']]),
    });
    expect(negotiateOptions(req({ timeout: '255' }), { mode: 'octet' }).timeoutMs).toBe(255_000);
    for (const bad of ['0', '256', 'x'])
      expect(negotiateOptions(req({ timeout: bad }), { mode: 'octet' }).oack.size).toBe(0);
  });

  it('tsize: answered with the file size in octet mode only', () => {
    expect(oack(negotiateOptions(req({ tsize: '0' }), { mode: 'octet', fileSize: 12345678 }))).toEqual({
      tsize: '12345678',
    });
    expect(negotiateOptions(req({ tsize: '0' }), { mode: 'netascii', fileSize: 10 }).oack.size).toBe(0);
    expect(negotiateOptions(req({ tsize: '0' }), { mode: 'octet' }).oack.size).toBe(0);
    expect(negotiateOptions(req({ tsize: '0' }), { mode: 'octet', fileSize: 0 }).oack.size).toBe(0); // curl rejects "tsize 0"
    expect(oack(negotiateOptions(req({ tsize: '0', blksize: '1468' }), { mode: 'octet', fileSize: 0 }))).toEqual({
      blksize: '1468',
    });
    expect(negotiateOptions(req({ tsize: 'abc' }), { mode: 'octet', fileSize: 1 }).oack.size).toBe(0);
  });

  it('windowsize: 1..65535, capped at maxWindowsize (default 64)', () => {
    expect(oack(negotiateOptions(req({ windowsize: '8' }), { mode: 'octet' }))).toEqual({ windowsize: '8' });
    expect(oack(negotiateOptions(req({ windowsize: '65535' }), { mode: 'octet' }))).toEqual({ windowsize: '64' });
    expect(oack(negotiateOptions(req({ windowsize: '500' }), { mode: 'octet', maxWindowsize: 1000 }))).toEqual({
      windowsize: '500',
    });
    for (const bad of ['0', '65536', ''])
      expect(negotiateOptions(req({ windowsize: bad }), { mode: 'octet' }).oack.size).toBe(0);
  });

  it('validates the limits', () => {
    expect(resolveLimits()).toEqual({ maxBlksize: 65464, maxWindowsize: 64 });
    expect(() => resolveLimits({ maxBlksize: 7 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxBlksize: 65465 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxWindowsize: 0 })).toThrow(RangeError);
  });
});
