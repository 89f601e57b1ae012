import { PolicyNotAuthorized, hasRole, requireRole, requireSender, senderRefusal } from './rpc-auth';

describe('rpc-auth', () => {
  it("reads the context's roles as Nova does (case-insensitive; is_admin alone is not a role)", () => {
    expect(hasRole({ roles: ['reader', 'Admin'] }, 'admin')).toBe(true);
    expect(hasRole({ is_admin: true }, 'admin')).toBe(false);
    expect(hasRole({ roles: 'admin' }, 'admin')).toBe(false);
    expect(hasRole({ roles: [1, null, 'member'] }, 'admin')).toBe(false);
    expect(() => requireRole({ roles: ['member'] }, 'admin', 'power_off')).toThrow(PolicyNotAuthorized);
    const e = (() => {
      try {
        requireRole({}, 'admin', 'reboot');
      } catch (x) {
        return x as PolicyNotAuthorized;
      }
    })();
    expect([e?.name, e?.message, e?.action]).toEqual([
      'PolicyNotAuthorized',
      "Policy doesn't allow reboot to be performed.",
      'reboot',
    ]);
  });

  it('checks the sender against a pattern; no sender never passes', () => {
    const allowed = /^(compute-.+|bmctl)$/;
    expect(() => requireSender('compute-h1', allowed, 'power_off')).not.toThrow();
    expect(() => requireSender('netboot', allowed, 'power_off')).toThrow(PolicyNotAuthorized);
    expect(() => requireSender(undefined, allowed, 'power_off')).toThrow(PolicyNotAuthorized);
  });

  it.each([
    ['compute-h1', 'h1', undefined],
    ['compute-h1', 'h2', 'broker user compute-h1 does not speak for host h2'],
    ['compute-h1x', 'h1', 'broker user compute-h1x does not speak for host h1'],
    ['cluster-a', 'h3', undefined],
    ['cluster-a', 'h1', 'broker user cluster-a does not speak for host h1'],
    [undefined, 'h1', 'it carries no user_id'],
    ['', 'h1', 'it carries no user_id'],
  ])('sender %s for host %s: %s', (sender, host, refusal) => {
    expect(senderRefusal(sender, host, { prefix: 'compute-', users: { 'cluster-a': 'h3' } })).toBe(refusal);
  });

  it('with no prefix, only the listed users speak', () => {
    expect(senderRefusal('h1', 'h1', { prefix: '', users: {} })).toBe('broker user h1 does not speak for host h1');
  });
});
