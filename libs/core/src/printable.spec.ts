import { printable } from './printable';

describe('printable', () => {
  it('leaves printable text alone, Unicode included', () => {
    expect(printable('power_on node-1 (ü, 電源) \\ "quoted"')).toBe('power_on node-1 (ü, 電源) \\ "quoted"');
  });

  it('escapes what would start a log line or drive a terminal', () => {
    expect(printable('power_on\n2026-12-07 ERROR forged')).toBe('power_on\\n2026-12-07 ERROR forged');
    expect(printable('a\r\tb\u0000c')).toBe('a\\r\\tb\\x00c');
    expect(printable('\u001b[2J\u001b]0;title\u0007admin')).toBe('\\x1b[2J\\x1b]0;title\\x07admin');
    expect(printable('x\u007fy\u009b31m')).toBe('x\\x7fy\\x9b31m');
    expect(printable('user\u202egnp.exe\u2028next')).toBe('user\\u202egnp.exe\\u2028next');
  });
});
