import { PHASES, type Phase, PhaseTracker, mayFollow } from './phases';

describe('the phase machine of a simulated node', () => {
  const clock = () => {
    let t = 1_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('goes through a whole deploy and the instance boot', () => {
    const c = clock();
    const p = new PhaseTracker(c.now);
    const path: Phase[] = [
      'dhcp',
      'tftp',
      'deploy-wait',
      'exporting',
      'callback',
      'waiting-done',
      'rebooting',
      'dhcp',
      'tftp',
      'booted-instance',
      'off',
    ];
    for (const phase of path) {
      c.advance(10);
      p.enter(phase);
    }
    expect(p.history.map((h) => h.phase)).toEqual(['off', ...path]);
    expect(p.history.map((h) => h.at)).toEqual([
      1000, 1010, 1020, 1030, 1040, 1050, 1060, 1070, 1080, 1090, 1100, 1110,
    ]);
    expect(p.current).toEqual({ phase: 'off', at: 1110 });
  });

  it('power off from anywhere; a reset (rebooting) from anywhere but off; failed only from a step', () => {
    for (const from of PHASES) {
      expect([from, mayFollow(from, 'off')]).toEqual([from, true]);
      expect([from, mayFollow(from, 'rebooting')]).toEqual([from, from !== 'off']);
    }
    const fallible = PHASES.filter((f) => mayFollow(f, 'failed'));
    expect(fallible).toEqual([
      'off',
      'dhcp',
      'tftp',
      'deploy-wait',
      'exporting',
      'callback',
      'waiting-done',
      'rebooting',
    ]);
  });

  it('a local boot goes straight to the instance, from off or a reboot', () => {
    expect(mayFollow('off', 'booted-instance')).toBe(true);
    expect(mayFollow('rebooting', 'booted-instance')).toBe(true);
    expect(mayFollow('waiting-done', 'booted-instance')).toBe(false);
  });

  it('refuses a step out of order, keeping the phase', () => {
    const p = new PhaseTracker(() => 0);
    p.enter('dhcp');
    expect(() => p.enter('callback')).toThrow(new RangeError('phase callback cannot follow dhcp'));
    expect(() => p.enter('waiting-done')).toThrow(RangeError);
    p.enter('failed', 'DHCP: no OFFER after 5 DISCOVERs');
    expect(() => p.enter('dhcp')).toThrow(RangeError); // a failed node needs a reset or a power off
    expect(p.current).toEqual({ phase: 'failed', at: 0, detail: 'DHCP: no OFFER after 5 DISCOVERs' });
  });

  it('keeps the last `keep` entries', () => {
    const p = new PhaseTracker(() => 0, 3);
    for (let i = 0; i < 5; i++) {
      p.enter('dhcp');
      p.enter('off');
    }
    expect(p.history.map((h) => h.phase)).toEqual(['off', 'dhcp', 'off']);
  });
});
