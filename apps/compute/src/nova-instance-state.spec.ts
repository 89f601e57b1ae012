import type { BmConfig } from '@bm/config';
import { ManualClock } from '@bm/core';
import { InstanceDeployFailure } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import { RemoteError } from '@bm/messaging';
import type { InstanceRef } from './instance-args';
import { NovaInstanceState } from './nova-instance-state';

// What compute writes to Nova's database around each step (the conductor's object_action calls),
// against a recording RpcClient: the conductor answers each save with no updates.
const UUID = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';
const primitive = {
  'nova_object.name': 'Instance',
  'nova_object.namespace': 'nova',
  'nova_object.version': '2.7',
  'nova_object.data': { uuid: UUID, vm_state: 'building', task_state: 'scheduling' },
};
const ref: InstanceRef = { uuid: UUID, name: 'vm', fields: primitive['nova_object.data'], primitive };

function harness(o: { nova_conductor?: boolean; refuse?: (objmethod: string, kwargs: unknown) => boolean } = {}) {
  const calls: {
    method: string;
    objmethod: string;
    changes: Record<string, unknown>;
    expected?: unknown;
    name: string;
  }[] = [];
  const rpc = {
    call: async (_t: unknown, method: string, args: Record<string, unknown>) => {
      const inst = args.objinst as Record<string, unknown>;
      const data = inst['nova_object.data'] as Record<string, unknown>;
      const changed = (inst['nova_object.changes'] as string[]).map((k) => [k, data[k]]);
      const kwargs = args.kwargs as { expected_task_state?: unknown };
      calls.push({
        method,
        name: String(inst['nova_object.name']),
        objmethod: String(args.objmethod),
        changes: Object.fromEntries(changed),
        ...('expected_task_state' in kwargs ? { expected: kwargs.expected_task_state } : {}),
      });
      if (o.refuse?.(String(args.objmethod), kwargs))
        throw new RemoteError({
          class: 'UnexpectedTaskStateError',
          module: 'nova.exception',
          message: 'Unexpected task state',
          tb: [],
          args: [],
          kwargs: {},
        });
      return [{}, null];
    },
  } as unknown as RpcClient;
  const config = {
    default: { host: 'cn1', rpc_response_timeout: 60 },
    baremetal: { nova_conductor: o.nova_conductor ?? true },
  } as unknown as BmConfig;
  return { state: new NovaInstanceState(config, new ManualClock(Date.UTC(2026, 11, 7, 12)), rpc), calls };
}

describe('NovaInstanceState', () => {
  it('a build: claimed on this host and node, spawning, then active, each save checked as nova-compute checks it', async () => {
    const h = harness();
    await h.state.before('create', ref, 'node-1');
    await h.state.after('create', ref);
    expect(h.calls.map(({ objmethod, changes, expected }) => ({ objmethod, changes, expected }))).toEqual([
      {
        objmethod: 'save',
        changes: { host: 'cn1', node: 'node-1', vm_state: 'building', task_state: null },
        expected: ['scheduling', null],
      },
      { objmethod: 'save', changes: { task_state: 'spawning' }, expected: [null] },
      {
        objmethod: 'save',
        changes: { vm_state: 'active', task_state: null, power_state: 1, launched_at: '2026-12-07T12:00:00Z' },
        expected: 'spawning',
      },
    ]);
    expect(h.calls.every((c) => c.method === 'object_action' && c.name === 'Instance')).toBe(true);
  });

  it("a failed build: a fault with the error's message (a bug's only its class name), then vm_state error without host and node", async () => {
    const h = harness();
    await h.state.failed('create', ref, new InstanceDeployFailure('PXE deploy failed'));
    await h.state.failed('reboot', ref, new TypeError('x is undefined at /srv/app.js:3'));
    expect(h.calls.map((c) => [c.name, c.objmethod, c.changes])).toEqual([
      ['InstanceFault', 'create', expect.objectContaining({ code: 500, message: 'PXE deploy failed', host: 'cn1' })],
      ['Instance', 'save', { vm_state: 'error', task_state: null, host: null, node: null }],
      ['InstanceFault', 'create', expect.objectContaining({ message: 'TypeError' })],
      ['Instance', 'save', { vm_state: 'error', task_state: null }],
    ]);
  });

  it('a build going back to the conductor: no fault, host and node cleared, task_state scheduling; that instance is what is sent', async () => {
    const h = harness();
    await h.state.failed('create', ref, new Error('deploy timed out'), true);
    expect(h.calls.map((c) => [c.name, c.objmethod, c.changes])).toEqual([
      ['Instance', 'save', { host: null, node: null, task_state: 'scheduling' }],
    ]);
    expect(h.state.takeRescheduled(ref)?.['nova_object.data']).toMatchObject({ task_state: 'scheduling', host: null });
    // taken once: later the primitive as Nova sent it
    expect(h.state.takeRescheduled(ref)).toBe(primitive);
  });

  it('stop, start and delete as Nova expects them (powering-off, powering-on; deleted then destroyed)', async () => {
    const h = harness();
    await h.state.after('power_off', ref);
    await h.state.after('power_on', ref);
    await h.state.after('delete', ref);
    expect(h.calls.map((c) => [c.objmethod, c.changes.vm_state ?? null, c.expected ?? null])).toEqual([
      ['save', 'stopped', 'powering-off'],
      ['save', 'active', 'powering-on'],
      ['save', 'deleted', null],
      ['destroy', null, null],
    ]);
  });

  it('Nova refusing the claim stops the step; refusing a later save is only logged', async () => {
    const h = harness({ refuse: (m, kwargs) => m === 'save' && JSON.stringify(kwargs).includes('scheduling') });
    await expect(h.state.before('create', ref, 'node-1')).rejects.toMatchObject({ name: 'UnexpectedTaskStateError' });
    const later = harness({ refuse: () => true });
    await expect(later.state.after('power_off', ref)).resolves.toBeUndefined();
  });

  it('leaves plain-dict instances, and everything when nova_conductor is off, alone', async () => {
    const h = harness();
    await h.state.before('create', { uuid: UUID, name: 'vm', fields: {} }, 'node-1');
    const off = harness({ nova_conductor: false });
    await off.state.before('create', ref, 'node-1');
    await off.state.after('create', ref);
    expect([h.calls, off.calls]).toEqual([[], []]);
  });
});
