import type { NodeEventRow } from '@bm/db';
import { NodeHistory } from './node-history';
import { progressOf } from './node-progress';

const T0 = Date.parse('2026-12-07T06:00:00Z');
const ev = (id: number, kind: string, detail: string, atS = id): NodeEventRow => ({
  id,
  nodeId: 1,
  at: new Date(T0 + atS * 1000),
  source: 's',
  kind,
  detail,
  durationMs: null,
  bytes: kind === 'deploy.progress' ? id : null,
  instanceUuid: null,
});

describe('NodeHistory', () => {
  it('keeps the current deploy only, in timeline order, each event once', () => {
    const h = new NodeHistory();
    h.add([ev(1, 'state', 'building (associate)'), ev(2, 'state', 'active (activated)')]);
    expect(h.add([ev(2, 'state', 'active (activated)')])).toBe(false);
    h.add([ev(4, 'dhcp.ack', 'ack'), ev(3, 'state', 'building (rebuild)')]);
    expect(h.list().map((e) => e.id)).toEqual([3, 4]);
  });

  it('stays bounded through a long deploy, and progressOf reads it as the whole timeline', () => {
    const h = new NodeHistory();
    const all = [ev(1, 'state', 'building (associate)'), ev(2, 'state', 'deploying (deploy_started)')];
    for (let i = 3; i < 2000; i++)
      all.push(ev(i, i % 2 ? 'deploy.progress' : 'tftp.file', `write: ${i} of 4000 bytes`));
    for (const e of all) h.add([e]);
    expect(h.list().length).toBeLessThan(50);
    const row = { task_state: 'deploying' as const, instance_uuid: 'i' };
    const now = new Date(T0 + 3000_000);
    const { inState: _a, ...whole } = progressOf(1, row, all, now);
    const { inState: _b, ...kept } = progressOf(1, row, h.list(), now);
    expect(kept).toEqual(whole);
  });
});
