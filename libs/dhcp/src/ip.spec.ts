import { intToIp, ipToInt, isIpv4, sameSubnet } from './ip';

// The grammar the parser implements, as a regular expression: the reference it is checked against.
const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

describe('IPv4 dotted quads', () => {
  it('parses and prints', () => {
    expect(ipToInt('10.77.0.1')).toBe(0x0a4d0001);
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
    expect(ipToInt('0.0.0.0')).toBe(0);
    expect(intToIp(0xc0a80117)).toBe('192.168.1.23');
    expect(sameSubnet('10.78.0.1', '10.78.0.50', '255.255.255.0')).toBe(true);
    expect(sameSubnet('10.77.0.1', '10.78.0.50', '255.255.255.0')).toBe(false);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.00',
    '1..3.4',
    '.1.2.3',
    '1.2.3.4.',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.-4',
    '1e2.0.0.1',
    '0x1.2.3.4',
    '1.2.3.1000',
  ])('rejects %j', (s) => {
    expect(isIpv4(s)).toBe(false);
    expect(() => ipToInt(s)).toThrow(RangeError);
  });

  it('agrees with the reference grammar on 200 000 random strings near the format', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const alphabet = '0123456789.0123456789.25x -';
    for (let i = 0; i < 200_000; i++) {
      const s = rnd(2)
        ? Array.from({ length: 4 }, () => String(rnd(300)).padStart(rnd(4), '0')).join('.')
        : Array.from({ length: rnd(16) }, () => alphabet[rnd(alphabet.length)]).join('');
      const want = DOTTED.test(s);
      if (isIpv4(s) !== want) throw new Error(`${JSON.stringify(s)}: parser says ${!want}, grammar says ${want}`);
      if (want) expect(intToIp(ipToInt(s))).toBe(s);
    }
  });
});
