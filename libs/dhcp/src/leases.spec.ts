import { InMemoryLeaseStore, OrphanReservations, normaliseMac, type ReservationChange } from './leases';

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

describe('OrphanReservations (the addresses of deleted nodes go back to the range)', () => {
  const MIN = 60_000;
  const store = () =>
    new InMemoryLeaseStore(
      { first: '10.0.0.10', last: '10.0.0.12' },
      {
        reservations: [
          { mac: '52:54:00:00:00:01', ip: '10.0.0.10' },
          { mac: '52:54:00:00:00:02', ip: '10.0.0.11' },
          { mac: '52:54:00:00:00:03', ip: '10.0.0.12' },
        ],
      },
    );

  it('forgets a MAC no live node has once the grace is over, not before; enrolled ones stay', () => {
    const s = store();
    const o = new OrphanReservations(s, 10 * MIN);
    const live = new Set(['52:54:00:00:00:01', '52:54:00:00:00:02']);
    expect(o.sweep(live, 0)).toEqual([]);
    expect(o.sweep(live, 10 * MIN - 1)).toEqual([]);
    expect(o.sweep(live, 10 * MIN)).toEqual(['52:54:00:00:00:03']);
    expect(s.get('52:54:00:00:00:03')).toBeUndefined();
    expect(s.allocate('52:54:00:00:00:04')).toBe('10.0.0.12'); // the address is free again
    expect(s.list().map((r) => r.mac)).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:04']);
  });

  it('a node enrolled again within the grace keeps its address, and its grace starts over next time', () => {
    const s = store();
    const o = new OrphanReservations(s, 10 * MIN);
    const all = new Set(['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']);
    const without3 = new Set(['52:54:00:00:00:01', '52:54:00:00:00:02']);
    o.sweep(without3, 0);
    o.sweep(all, 5 * MIN); // enrolled again
    expect(o.sweep(without3, 12 * MIN)).toEqual([]); // deleted again at 12: a new grace
    expect(o.sweep(without3, 21 * MIN)).toEqual([]);
    expect(o.sweep(without3, 22 * MIN)).toEqual(['52:54:00:00:00:03']);
  });

  it('node churn no longer fills the range: 3 addresses serve 30 nodes enrolled and deleted in turn', () => {
    const s = new InMemoryLeaseStore({ first: '10.0.0.10', last: '10.0.0.12' });
    const o = new OrphanReservations(s, 0);
    const refused: string[] = [];
    for (let n = 1; n <= 30; n++) {
      const mac = `52:54:00:00:01:${n.toString(16).padStart(2, '0')}`;
      o.sweep(new Set([mac]), n * MIN);
      if (!s.allocate(mac)) refused.push(mac);
    }
    expect(refused).toEqual([]);
    expect(s.list()).toHaveLength(1);
  });
});
