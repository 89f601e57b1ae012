import { consoleLogPath, consoleTail } from './console-log';

describe('the console log (Nova manager get_console_output)', () => {
  const log = Buffer.from('one\ntwo\nthree\nfour');

  it("lives where Nova's libvirt driver keeps it", () => {
    expect(consoleLogPath('/var/lib/nova-bm/instances', 'u-1')).toBe('/var/lib/nova-bm/instances/u-1/console.log');
  });

  it('the last tail_length lines, as Python slices them', () => {
    expect(consoleTail(log, null)).toBe('one\ntwo\nthree\nfour');
    expect(consoleTail(log, undefined)).toBe('one\ntwo\nthree\nfour');
    expect(consoleTail(log, 2)).toBe('three\nfour');
    expect(consoleTail(log, '2')).toBe('three\nfour');
    expect(consoleTail(log, 10)).toBe('one\ntwo\nthree\nfour');
    // Python's log.split(b'\n')[-(-1):]: the first line dropped
    expect(consoleTail(log, -1)).toBe('two\nthree\nfour');
    expect(consoleTail(Buffer.from('a\nb\n'), 1)).toBe('');
  });

  it("0 or what Python's int() refuses: nothing (Nova's ValueError → 0)", () => {
    expect(consoleTail(log, 0)).toBe('');
    expect(consoleTail(log, 'lots')).toBe('');
    expect(consoleTail(log, '1.5')).toBe('');
  });

  it('decoded as ASCII, every other byte U+FFFD', () => {
    expect(consoleTail(Buffer.from([0x6f, 0x6b, 0xc3, 0xa9, 0x0a]), null)).toBe('ok\ufffd\ufffd\n');
  });
});
