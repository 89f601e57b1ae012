import { named } from './schedule-instances';

describe("the scheduler names several instances of one request as Nova's API does", () => {
  const base = { uuid: 'u0', hostname: 'vm', display_name: 'vm', memory_mb: 512 };

  it('one instance keeps its name', () => {
    expect(named(base, 0, 1)).toBe(base);
  });

  it('of three, each is <name>-<n> (multi_instance_display_name_template %(name)s-%(count)d)', () => {
    expect([0, 1, 2].map((i) => named(base, i, 3))).toEqual([
      { ...base, hostname: 'vm-1', display_name: 'vm-1' },
      { ...base, hostname: 'vm-2', display_name: 'vm-2' },
      { ...base, hostname: 'vm-3', display_name: 'vm-3' },
    ]);
  });

  it('a missing or empty name stays as it is', () => {
    expect(named({ uuid: 'u0', hostname: '' }, 1, 2)).toEqual({ uuid: 'u0', hostname: '', display_name: undefined });
  });
});
