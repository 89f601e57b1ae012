import { brokerDefinitions, brokerUsers, rabbitPasswordHash } from './broker-users';

import { BROKER_TOPICS as TOPICS } from '@bm/contracts';

const o = { vhost: 'lab', exchange: 'nova', computeHosts: ['c1', 'c2'], topics: TOPICS, jobQueue: 'baremetal.deploy' };
const users = brokerUsers(o);
const byName = new Map(users.map((u) => [u.name, u]));
const may = (user: string, what: 'configure' | 'write' | 'read' | 'topicWrite', name: string) =>
  new RegExp(byName.get(user)![what]).test(name);

describe('brokerUsers: one RabbitMQ user per service', () => {
  it('has a user per compute host, per service and for the operator', () => {
    expect(users.map((u) => [u.name, u.role])).toEqual([
      ['compute-c1', 'compute'],
      ['compute-c2', 'compute'],
      ['scheduler', 'scheduler'],
      ['power', 'power'],
      ['netboot', 'netboot'],
      ['deploy-helper', 'deploy-helper'],
      ['images', 'images'],
      ['rack', 'rack'],
      ['bmctl', 'operator'],
    ]);
    expect(brokerUsers({ ...o, prefix: 't1-' })[0].name).toBe('t1-compute-c1');
  });

  it.each([
    // [user, routing key on the control exchange, may publish]
    ['compute-c1', 'baremetal-power', true],
    ['compute-c1', 'baremetal-power.host9', true],
    ['compute-c1', 'baremetal-netboot.c1', true],
    ['compute-c1', 'scheduler', true],
    ['compute-c1', 'conductor', true],
    ['compute-c1', 'compute.c2', false],
    ['scheduler', 'compute.c1', true],
    ['scheduler', 'baremetal-power', false],
    ['netboot', 'baremetal-power', false],
    ['netboot', 'notifications.info', true],
    ['power', 'baremetal-power.x', false],
    ['deploy-helper', 'compute.c1', true],
    ['deploy-helper', 'baremetal-netboot', true],
    ['deploy-helper', 'baremetal-power', false],
    ['images', 'compute', false],
    ['images', 'baremetal-powerx', false],
    ['rack', 'compute', false],
    ['rack', 'scheduler.c1', false],
    ['bmctl', 'baremetal-power.c1', true],
  ])('%s publishing with key %s: %s', (user, key, allowed) => {
    expect(may(user, 'topicWrite', key)).toBe(allowed);
  });

  it('lets only compute hosts (and the operator) write to the scheduler fanout, only the scheduler to compute’s', () => {
    const writers = (ex: string) => users.filter((u) => may(u.name, 'write', ex)).map((u) => u.name);
    expect(writers('scheduler_fanout')).toEqual(['compute-c1', 'compute-c2', 'bmctl']);
    expect(writers('compute_fanout')).toEqual(['scheduler', 'bmctl']);
    expect(writers('baremetal.jobs')).toEqual(['deploy-helper', 'bmctl']);
  });

  it('lets each server declare and consume only its own queues', () => {
    expect(may('power', 'read', 'baremetal-power.c1')).toBe(true);
    expect(may('power', 'read', 'compute')).toBe(false);
    expect(may('power', 'configure', `baremetal-power_fanout_${'a'.repeat(32)}`)).toBe(true);
    expect(may('netboot', 'read', 'baremetal-power')).toBe(false);
    expect(may('scheduler', 'configure', 'compute')).toBe(false);
    for (const u of users) expect([u.name, may(u.name, 'read', `reply_${'0'.repeat(32)}`)]).toEqual([u.name, true]);
  });
});

describe('brokerDefinitions', () => {
  it("hashes as RabbitMQ's rabbit_password_hashing_sha256 (its documented example)", () => {
    expect(rabbitPasswordHash('test12', Buffer.from('908dc60a', 'hex'))).toBe(
      'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR',
    );
  });

  it('holds the vhost, users with hashes only, their permissions and topic permissions', () => {
    const passwords = Object.fromEntries(users.map((u) => [u.name, `pw-${u.name}`]));
    const d = brokerDefinitions(o, users, passwords) as Record<string, Record<string, unknown>[]>;
    expect(d.vhosts).toEqual([{ name: 'lab' }]);
    expect(JSON.stringify(d)).not.toContain('pw-');
    expect(d.users.find((u) => u.name === 'bmctl')).toMatchObject({
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: 'management',
    });
    expect(d.topic_permissions.find((p) => p.user === 'power')).toEqual({
      user: 'power',
      vhost: 'lab',
      exchange: 'nova',
      write: byName.get('power')!.topicWrite,
      read: '.*',
    });
    expect(() => brokerDefinitions(o, users, {})).toThrow('no password for broker user compute-c1');
  });
});
