import type { NodeEventRow, RackNodeRow } from '@bm/db';
import { rackEventOf, tileOf } from './tile';

const T0 = Date.parse('2026-12-07T06:00:00Z');
const row: RackNodeRow = {
  id: 7,
  uuid: 'u-7',
  service_host: 'cn1',
  instance_uuid: 'i-7',
  instance_name: 'vm-7',
  task_state: 'deploying',
  cpus: 2,
  memory_mb: 2048,
  local_gb: 10,
  cpu_arch: 'x86_64',
  maintenance: null,
  maintenance_reason: null,
  power_state: 'on',
  power_error: null,
  power_checked_at: new Date(T0),
};
const ev = (id: number, kind: string, detail: string, bytes: number | null = null): NodeEventRow => ({
  id,
  nodeId: 7,
  at: new Date(T0 + id * 1000),
  source: 'deploy-helper',
  kind,
  detail,
  durationMs: null,
  bytes,
  instanceUuid: 'i-7',
});

describe('tileOf', () => {
  it.each([
    ['no event yet', [], { phase: '', percent: null, startedAt: null, lastEventAt: null, trail: [] }],
    [
      'the trail: the states of the current deploy, a failure reason left out',
      [
        ev(1, 'state', 'active (activated)'),
        ev(2, 'state', 'building (associate)'),
        ev(3, 'dhcp.ack', 'ack'),
        ev(4, 'state', 'error (failed): deploy timed out (after 30 s)'),
      ],
      {
        trail: [
          { state: 'building', at: new Date(T0 + 2000).toISOString() },
          { state: 'error', at: new Date(T0 + 4000).toISOString() },
        ],
      },
    ],
    [
      'writing the image: bytes, total, percent (one decimal, floored)',
      [ev(1, 'state', 'building (associate)'), ev(2, 'deploy.progress', 'write: 1 of 3 bytes', 1)],
      {
        phase: 'deploy.progress write',
        bytes: 1,
        total: 3,
        percent: 33.3,
        startedAt: new Date(T0 + 1000).toISOString(),
      },
    ],
    [
      'a later step: no progress any more',
      [ev(2, 'deploy.progress', 'write: 3 of 3 bytes', 3), ev(3, 'deploy.step', 'write: done', 3)],
      { phase: 'deploy.step write', bytes: null, percent: null, lastEventAt: new Date(T0 + 3000).toISOString() },
    ],
    [
      'an image of unknown size: bytes without a percentage',
      [ev(2, 'deploy.progress', 'write: 5 of ? bytes', 5)],
      { bytes: 5, total: null, percent: null },
    ],
  ])('%s', (_name, events, want) => {
    expect(tileOf(row, events)).toMatchObject(want);
  });

  it('carries the row as it is: text is not touched (the page escapes it)', () => {
    const t = tileOf(
      { ...row, instance_name: '<img src=x onerror=alert(1)>', maintenance: true, maintenance_reason: 'a & b' },
      [],
    );
    expect(t).toMatchObject({
      id: 7,
      host: 'cn1',
      state: 'deploying',
      instance: 'i-7',
      instanceName: '<img src=x onerror=alert(1)>',
      power: 'on',
      maintenance: true,
      maintenanceReason: 'a & b',
      cpus: 2,
      memoryMb: 2048,
      localGb: 10,
      arch: 'x86_64',
    });
  });

  it.each([
    ['the record alone', [], 'on'],
    ['a power off after the record was read', [ev(5, 'power.off', 'power off: node is off')], 'off'],
    ['a failed power off: the record', [ev(5, 'power.off', 'power off failed: BMC timed out')], 'on'],
    ['a power off before the record was read: the record', [ev(-5, 'power.off', 'power off: node is off')], 'on'],
    ['a reboot after an off', [ev(4, 'power.off', 'off'), ev(6, 'power.reboot', 'reboot: done')], 'on'],
  ])('power: %s', (_name, events, power) => {
    expect(tileOf(row, events).power).toBe(power);
  });

  it('an event as the page gets it: ISO time', () => {
    expect(rackEventOf(ev(1, 'state', 'active (activated)'))).toEqual({
      id: 1,
      nodeId: 7,
      at: '2026-12-07T06:00:01.000Z',
      source: 'deploy-helper',
      kind: 'state',
      detail: 'active (activated)',
      durationMs: null,
      bytes: null,
      instanceUuid: 'i-7',
    });
  });
});
