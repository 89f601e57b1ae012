import { InvalidArgumentError } from 'commander';
import type { MaintenanceRow, NodeListRow } from '@bm/db';
import { NodeNotFound } from '@bm/domain';
import { CliError } from '../errors';
import { formatList } from '../output';
import { NODE_LIST_COLUMNS, listQuery, sortOption, stateOption } from './node-list';
import { MAX_REASON, SetMaintenance, reasonOption } from './node-maintenance';

describe('bmctl node list options', () => {
  it('--sort KEY[:asc|desc]', () => {
    expect(sortOption('cpus')).toEqual({ key: 'cpus', dir: 'asc' });
    expect(sortOption('power_state:desc')).toEqual({ key: 'power_state', dir: 'desc' });
    for (const bad of ['pm_password', 'cpus:down', 'cpus:asc:x', '', 'id;drop'])
      expect(() => sortOption(bad)).toThrow(InvalidArgumentError);
  });

  it('--state: a task_state or none', () => {
    expect(stateOption('active')).toBe('active');
    expect(stateOption('deploy complete')).toBe('deploy complete');
    expect(stateOption('none')).toBe('none');
    expect(() => stateOption('NULL')).toThrow(/must be one of none, active, building, /);
  });

  it('the filters as the repository takes them; --associated and --unassociated exclude each other', () => {
    expect(listQuery({})).toEqual({});
    expect(
      listQuery({ host: 'cn1', state: 'none', maintenance: false, unassociated: true, limit: 5, marker: 'u' }),
    ).toMatchObject({ host: 'cn1', state: 'none', maintenance: false, associated: false, limit: 5, marker: 'u' });
    expect(listQuery({ associated: true }).associated).toBe(true);
    expect(() => listQuery({ associated: true, unassociated: true })).toThrow(CliError);
  });

  it('default columns: states, power, maintenance, last error; --long adds the rest, never the password', () => {
    const row: NodeListRow = {
      id: 1,
      uuid: 'u-1',
      service_host: 'cn1',
      cpus: 2,
      memory_mb: 2048,
      local_gb: 20,
      cpu_arch: 'x86_64',
      pm_address: '10.0.0.1',
      pm_user: 'admin',
      pm_password_set: true,
      terminal_port: null,
      instance_uuid: null,
      instance_name: null,
      task_state: null,
      maintenance: true,
      maintenance_reason: 'fan',
      maintenance_at: new Date('2026-01-02T03:04:05Z'),
      power_state: 'off',
      power_error: 'BMC 10.0.0.1: no answer',
      power_checked_at: null,
      created_at: null,
      updated_at: null,
      macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'],
    };
    const short = JSON.parse(formatList([row], NODE_LIST_COLUMNS, { format: 'json', columns: [], long: false }));
    expect(short).toEqual([
      {
        ID: 1,
        UUID: 'u-1',
        Host: 'cn1',
        'Instance UUID': null,
        'Task State': null,
        'Power State': 'off',
        Maintenance: true,
        'Last Error': 'BMC 10.0.0.1: no answer',
      },
    ]);
    const long = JSON.parse(formatList([row], NODE_LIST_COLUMNS, { format: 'json', columns: [], long: true }))[0];
    expect(long).toMatchObject({
      'MAC Addresses': ['52:54:00:00:00:01', '52:54:00:00:00:02'],
      'PM Password': '******',
      'Maintenance Reason': 'fan',
      'Maintenance Since': '2026-01-02T03:04:05.000Z',
    });
  });
});

describe('bmctl node maintenance', () => {
  it('--reason: one line, not empty, at most 255 characters', () => {
    expect(reasonOption('  fan replaced ')).toBe('fan replaced');
    expect(reasonOption('x'.repeat(MAX_REASON))).toHaveLength(MAX_REASON);
    for (const bad of ['', '   ', 'x'.repeat(MAX_REASON + 1), 'two\nlines', 'bell\u0007'])
      expect(() => reasonOption(bad)).toThrow(InvalidArgumentError);
  });

  const world = (known = [1, 2]) => {
    const set: [number[], boolean, string | null][] = [];
    const m = new SetMaintenance({
      resolve: async (ref) => {
        if (!known.includes(Number(ref))) throw new NodeNotFound(ref);
        return { id: Number(ref) };
      },
      set: async (ids, on, reason) => {
        set.push([[...ids], on, reason]);
        return ids.map((id) => ({ id }) as MaintenanceRow);
      },
    });
    return { m, set };
  };

  it('every node looked up first, then one change for all (a node named twice once)', async () => {
    const w = world();
    await w.m.run(['1', '2', '1'], true, 'rack 4 rewiring');
    await w.m.run(['2'], false);
    expect(w.set).toEqual([
      [[1, 2], true, 'rack 4 rewiring'],
      [[2], false, null],
    ]);
  });

  it('an unknown node changes none of them; a reason with off is refused', async () => {
    const w = world();
    await expect(w.m.run(['1', '9'], true)).rejects.toBeInstanceOf(NodeNotFound);
    await expect(w.m.run(['1'], false, 'why')).rejects.toThrow(/--reason goes with maintenance on/);
    expect(w.set).toEqual([]);
  });
});
