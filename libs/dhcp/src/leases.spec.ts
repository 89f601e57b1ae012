import { InMemoryLeaseStore, normaliseMac, type ReservationChange } from './leases';

const range = { first: '10.77.0.50', last: '10.77.0.52' };

describe('InMemoryLeaseStore', () => {
  it('hands out the lowest free address and keeps it per MAC', () => {
    const s = new InMemoryLeaseStore(range);
    expect(s.allocate('52:54:00:00:00:01')).toBe('10.77.0.50');
    expect(s.allocate('52:54:00:00:00:02')).toBe('10.77.0.51');
    expect(s.allocate('52:54:00:00:00:01')).toBe('10.77.0.50');
    expect(s.get('52:54:00:00:00:02')).toBe('10.77.0.51');
    expect(s.get('52:54:00:00:00:03')).toBeUndefined();
  });

  it('keeps the reservation across release: the next boot gets the same address', () => {
    const s = new InMemoryLeaseStore(range);
    const ip = s.allocate('52:54:00:00:00:01');
    s.release('52:54:00:00:00:01');
    expect(s.list()).toEqual([{ mac: '52:54:00:00:00:01', ip, active: false }]);
    s.allocate('52:54:00:00:00:02');
    expect(s.allocate('52:54:00:00:00:01')).toBe(ip);
    expect(s.list()[0].active).toBe(true);
  });

  it('returns undefined when the range is full, and reuses a forgotten address', () => {
    const s = new InMemoryLeaseStore(range);
    ['01', '02', '03'].forEach((x) => s.allocate(`52:54:00:00:00:${x}`));
    expect(s.allocate('52:54:00:00:00:04')).toBeUndefined();
    expect(s.forget('52:54:00:00:00:02')).toBe(true);
    expect(s.forget('52:54:00:00:00:02')).toBe(false);
    expect(s.allocate('52:54:00:00:00:04')).toBe('10.77.0.51');
  });

  it('skips excluded addresses', () => {
    const s = new InMemoryLeaseStore(range, { exclude: ['10.77.0.50', '10.77.0.51'] });
    expect(s.allocate('52:54:00:00:00:01')).toBe('10.77.0.52');
    expect(s.allocate('52:54:00:00:00:02')).toBeUndefined();
  });

  it('starts from persisted reservations and reports every change (the hook for a DB-backed store)', () => {
    const changes: ReservationChange[] = [];
    const s = new InMemoryLeaseStore(range, {
      reservations: [{ mac: '52-54-00-00-00-0A', ip: '10.77.0.50' }],
      onChange: (c) => changes.push(c),
    });
    expect(s.get('52:54:00:00:00:0a')).toBe('10.77.0.50');
    expect(s.allocate('52:54:00:00:00:0b')).toBe('10.77.0.51');
    s.release('52:54:00:00:00:0b');
    s.release('52:54:00:00:00:0b');
    s.allocate('52:54:00:00:00:0b');
    s.forget('52:54:00:00:00:0a');
    expect(changes.map((c) => `${c.event} ${c.mac} ${c.ip}`)).toEqual([
      'reserved 52:54:00:00:00:0b 10.77.0.51',
      'released 52:54:00:00:00:0b 10.77.0.51',
      'renewed 52:54:00:00:00:0b 10.77.0.51',
      'forgotten 52:54:00:00:00:0a 10.77.0.50',
    ]);
    // a store rebuilt from list() hands out the same addresses
    const again = new InMemoryLeaseStore(range, { reservations: s.list() });
    expect(again.allocate('52:54:00:00:00:0b')).toBe('10.77.0.51');
  });

  it('rejects inconsistent input', () => {
    expect(() => new InMemoryLeaseStore({ first: '10.77.0.9', last: '10.77.0.1' })).toThrow(RangeError);
    expect(
      () =>
        new InMemoryLeaseStore(range, {
          reservations: [
            { mac: 'a', ip: '10.77.0.50' },
            { mac: 'b', ip: '10.77.0.50' },
          ],
        }),
    ).toThrow(/twice/);
    expect(
      () =>
        new InMemoryLeaseStore(range, {
          reservations: [
            { mac: 'a', ip: '10.77.0.50' },
            { mac: 'A', ip: '10.77.0.51' },
          ],
        }),
    ).toThrow(/two reservations/);
  });

  it('normalises MACs', () => {
    expect(normaliseMac(' 52-54-00-AB-CD-EF ')).toBe('52:54:00:ab:cd:ef');
  });
});
