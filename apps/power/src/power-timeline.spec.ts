import { Logger } from '@nestjs/common';
import { ManualClock } from '@bm/core';
import type { NodeEventInput, NodeEventRepository } from '@bm/db';
import type { Notifier } from '@bm/messaging';
import type { PowerTarget } from '@bm/power';
import { onPowerChange } from './power-sync.service';
import { PowerTimeline } from './power-timeline';

const NODE: PowerTarget = {
  id: 4,
  uuid: 'c0ffee00-0000-4000-8000-000000000004',
  pm_address: '10.0.0.4',
  pm_user: 'admin',
  pm_password: 'pw',
};

const settle = () => new Promise((r) => setImmediate(r));

describe('PowerTimeline and the power sync', () => {
  afterEach(() => jest.restoreAllMocks());

  it('a change the sync sees goes on the timeline, then out as the notification', async () => {
    const events: NodeEventInput[] = [];
    const repo = { record: async (e: NodeEventInput) => void events.push(e) };
    const sent: unknown[] = [];
    const notifier = { info: async (type: string, payload: unknown) => void sent.push([type, payload]) };
    const onChange = onPowerChange(
      notifier as unknown as Notifier,
      'cn1',
      new PowerTimeline(repo as unknown as NodeEventRepository, new ManualClock()),
    );
    await onChange(NODE, null, 'off');
    await onChange(NODE, 'off', 'on');
    await settle();
    expect(events).toEqual([
      {
        nodeId: 4,
        source: 'power',
        kind: 'power.changed',
        detail: 'power state off (first power sync)',
        durationMs: null,
      },
      {
        nodeId: 4,
        source: 'power',
        kind: 'power.changed',
        detail: 'power state changed from off to on (power sync)',
        durationMs: null,
      },
    ]);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual([
      'baremetal.node.power_state.changed',
      { node_id: 4, node_uuid: NODE.uuid, host: 'cn1', old_power_state: 'off', power_state: 'on' },
    ]);
  });

  it('a failed insert is logged, not thrown, and the notification still goes out', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const repo = { record: () => Promise.reject(new Error('database away')) };
    const sent: unknown[] = [];
    const notifier = { info: async (type: string) => void sent.push(type) };
    const onChange = onPowerChange(
      notifier as unknown as Notifier,
      'cn1',
      new PowerTimeline(repo as unknown as NodeEventRepository, new ManualClock()),
    );
    await onChange(NODE, 'on', 'off');
    await settle();
    expect(sent).toEqual(['baremetal.node.power_state.changed']);
    expect(warn).toHaveBeenCalledWith('node 4: power.changed not written to the timeline: database away');
  });
});
