import { ManualClock } from '@bm/core';
import type { NodeEventRow } from '@bm/db';
import type { BmTaskState } from '@bm/domain';
import { WatchFailed, WatchNodes, WatchTimedOut, progressOf, summaryRows } from './watch-nodes';

const T0 = Date.parse('2026-12-07T06:00:00Z');
let nextId = 1;
const ev = (s: number, source: string, kind: string, detail: string, bytes: number | null = null): NodeEventRow => ({
  id: nextId++,
  nodeId: 1,
  at: new Date(T0 + s * 1000),
  source,
  kind,
  detail,
  durationMs: null,
  bytes,
  instanceUuid: 'i-1',
});

/** A node's deploy as the services record it, up to second `upTo`. */
function deploy(upTo: number): NodeEventRow[] {
  return [
    ev(0, 'compute', 'state', 'building (associate)'),
    ev(1, 'compute', 'state', 'prepared (prepared)'),
    ev(2, 'netboot', 'dhcp.ack', 'ack 10.0.0.5 to 52:54:00:00:00:01'),
    ev(3, 'deploy-helper', 'state', 'deploying (deploy_started)'),
    ev(4, 'deploy-helper', 'deploy.step', 'partition: 3 partitions'),
    ev(5, 'deploy-helper', 'deploy.progress', 'write: 1048576 of 4194304 bytes', 1048576),
    ev(7, 'deploy-helper', 'deploy.step', 'write: image written'),
    ev(8, 'deploy-helper', 'state', 'deploy complete (deploy_done)'),
    ev(9, 'compute', 'state', 'active (activated)'),
  ].filter((e) => e.at.getTime() <= T0 + upTo * 1000);
}

describe('progressOf', () => {
  it('state, phase, bytes while writing, the start of the deploy and the time in each state', () => {
    const writing = progressOf(1, { task_state: 'deploying', instance_uuid: 'i-1' }, deploy(5), new Date(T0 + 6000));
    expect(writing).toMatchObject({
      state: 'deploying',
      phase: 'deploy.progress write',
      bytes: 1048576,
      total: 4194304,
      startedAt: new Date(T0),
      inState: { building: 1000, prepared: 2000, deploying: 3000 },
    });
    const done = progressOf(1, { task_state: 'active', instance_uuid: 'i-1' }, deploy(9), new Date(T0 + 9000));
    expect(done).toMatchObject({ phase: 'state active', bytes: null });
    expect(summaryRows([done])).toEqual([['1', 'i-1', 'active', '1.0 s', '2.0 s', '5.0 s', '1.0 s', '9.0 s']]);
  });

  it('only the current deploy counts: an earlier one on the node is left out', () => {
    const earlier = deploy(9).map((e) => ({ ...e, at: new Date(e.at.getTime() - 3_600_000) }));
    const p = progressOf(1, { task_state: 'building', instance_uuid: 'i-2' }, [...earlier, ...deploy(0)], new Date(T0));
    expect(p.inState).toEqual({ building: 0 });
  });
});

describe('WatchNodes', () => {
  const world = (tty: boolean, states: Map<number, BmTaskState>, events: Map<number, NodeEventRow[]>) => {
    const clock = new ManualClock(T0);
    clock.sleep = async (ms: number) => clock.advance(ms); // time passes as the watch waits
    const out: string[] = [];
    const watch = new WatchNodes({
      state: async (id) => (states.has(id) ? { task_state: states.get(id)!, instance_uuid: 'i-1' } : undefined),
      timeline: async (id) => events.get(id) ?? [],
      clock,
      tty,
      write: (t) => out.push(t),
    });
    return { clock, out, watch };
  };

  it('ends when every node is active; not a terminal: a line per change, not per tick', async () => {
    const states = new Map<number, BmTaskState>([[1, 'deploying']]);
    const events = new Map([[1, deploy(4)]]);
    const w = world(false, states, events);
    w.clock.sleep = async (ms: number) => {
      w.clock.advance(ms);
      if (w.clock.now() >= T0 + 9000) {
        states.set(1, 'active');
        events.set(1, deploy(9));
      }
    };
    const done = await w.watch.run([1], { until: 'active', timeoutS: 60, since: new Date(T0) });
    expect(done[0].state).toBe('active');
    expect(w.out).toEqual([
      'node 1    deploying       deploy.step partition  0.0 s\n',
      'node 1    active          state active  9.0 s\n',
    ]);
  });

  it('on a terminal the frame is redrawn in place: up over the last frame, each line cleared', async () => {
    const states = new Map<number, BmTaskState>([[1, 'deploying']]);
    const w = world(true, states, new Map([[1, deploy(4)]]));
    w.clock.sleep = async (ms: number) => {
      w.clock.advance(ms);
      states.set(1, 'active');
    };
    await w.watch.run([1], { until: 'active', timeoutS: 60 });
    expect(w.out).toHaveLength(2);
    const ESC = String.fromCharCode(27);
    expect(w.out[0].startsWith(`${ESC}[2Knode 1    deploying`)).toBe(true);
    expect(w.out[1].startsWith(`${ESC}[1F${ESC}[2Knode 1    active`)).toBe(true);
  });

  it('a node whose deploy failed fails the watch, naming it; a node still deleted from before has not failed', async () => {
    const failed = [...deploy(4), ev(6, 'deploy-helper', 'state', 'deploy failed (deploy_failed)')];
    const w = world(false, new Map([[1, 'deploy failed' as BmTaskState]]), new Map([[1, failed]]));
    await expect(w.watch.run([1], { until: 'active', timeoutS: 60, since: new Date(T0) })).rejects.toThrow(
      new WatchFailed('node 1: deploy failed (state deploy)'),
    );
    const before = world(false, new Map([[1, 'deleted' as BmTaskState]]), new Map([[1, deploy(9)]]));
    await expect(
      before.watch.run([1], { until: 'active', timeoutS: 1, since: new Date(T0 + 60_000) }),
    ).rejects.toBeInstanceOf(WatchTimedOut);
  });
});
