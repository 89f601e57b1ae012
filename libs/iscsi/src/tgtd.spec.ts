import { holdsLock } from './tgtd';

describe('Tgtd', () => {
  it("knows tgtd holds its control port's lock: /proc/locks by pid and inode", () => {
    const locks = '1: POSIX  ADVISORY  WRITE 4242 00:1a:9876 0 EOF\n2: FLOCK  ADVISORY  WRITE 77 08:01:5 0 EOF\n';
    expect(holdsLock(locks, 4242, 9876)).toBe(true);
    expect(holdsLock(locks, 4242, 5)).toBe(false);
    expect(holdsLock(locks, 77, 9876)).toBe(false);
    // a "->" line (one waiting behind a lock) has its fields one place further on
    expect(holdsLock('1: -> POSIX  ADVISORY  WRITE 4242 00:1a:9876 0 EOF\n', 4242, 9876)).toBe(true);
  });
});
