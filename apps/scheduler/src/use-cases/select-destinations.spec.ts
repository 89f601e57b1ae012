import { Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  type NovaObjectPrimitive,
  NOVA_BM_CELL_UUID,
  SelectDestinationsArgs,
  computeNodeUuid,
  legacySchedulingRequest,
  novaObject,
  readNovaObject,
  readNovaObjectList,
  specSchedulingRequest,
  uuid5,
} from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import {
  BaremetalHostManager,
  InvalidParameterValue,
  NoValidHost,
  type NodeResourceReport,
  validationProblems,
} from '@bm/domain';
import type { HostStates } from '../host-states.service';
import { SelectDestinations } from './select-destinations';

// The RequestSpec (4.3+) form of select_destinations next to the legacy one (4.0): both read into
// one request for the host manager; the answers as host dicts or Selection objects with
// alternates. The primitives below have the shape Zed's NovaObjectSerializer sends (captured
// from python3-nova 26.2.2), trimmed.

const obj = (name: string, version: string, data: Record<string, unknown>) => novaObject(name, version, data);
const flavorObj = (vcpus: number, memory_mb: number, root_gb: number, extra_specs: Record<string, string> = {}) =>
  obj('Flavor', '1.2', {
    name: `bm.${vcpus}-${memory_mb}-${root_gb}`,
    memory_mb,
    vcpus,
    root_gb,
    ephemeral_gb: 0,
    flavorid: '1',
    swap: 0,
    rxtx_factor: 1.0,
    disabled: false,
    is_public: true,
    extra_specs,
  });
const retryObj = (num_attempts: number, hosts: [string, string][]) =>
  obj('SchedulerRetries', '1.1', {
    num_attempts,
    hosts: obj('ComputeNodeList', '1.17', {
      objects: hosts.map(([host, hypervisor_hostname]) => obj('ComputeNode', '1.19', { host, hypervisor_hostname })),
    }),
  });
const specObj = (data: Record<string, unknown>) =>
  obj('RequestSpec', '1.14', {
    image: obj('ImageMeta', '1.8', {
      id: '6f3b2d1e-0000-4000-8000-000000000001',
      properties: obj('ImageMetaProps', '1.34', { hw_architecture: 'x86_64' }),
    }),
    project_id: 'p',
    num_instances: 1,
    scheduler_hints: {},
    instance_uuid: '6f3b2d1e-0000-4000-8000-0000000000aa',
    is_bfv: false,
    ...data,
  });

const N = {
  a: '00000000-0000-4000-8000-00000000000a',
  b: '00000000-0000-4000-8000-00000000000b',
  c: '00000000-0000-4000-8000-00000000000c',
  big: '00000000-0000-4000-8000-0000000000ff',
};
const report = (host: string, uuid: string, vcpus: number, ram: number, disk: number, arch = 'x86_64') =>
  ({
    host,
    hypervisor_hostname: uuid,
    vcpus,
    memory_mb: ram,
    local_gb: disk,
    vcpus_used: 0,
    memory_mb_used: 0,
    local_gb_used: 0,
    stats: { cpu_arch: arch },
  }) satisfies NodeResourceReport;

/**
 * Three equal nodes (a, b on cn1; c on cn2) and a big one, as the scheduler service would hold
 * them; `maintenance`: the nodes nova_bm has in maintenance (node name → reason).
 */
function scheduler(maintenance = new Map<string, string | null>()) {
  const manager = new BaremetalHostManager({ clock: { now: () => 1_000, sleep: async () => undefined } });
  manager.report(report('cn1', N.a, 1, 1024, 10));
  manager.report(report('cn1', N.b, 1, 1024, 10));
  manager.report(report('cn2', N.c, 1, 1024, 10));
  manager.report(report('cn2', N.big, 4, 8192, 80, 'aarch64'));
  const config = { default: { scheduler_max_attempts: 3 } } as BmConfig;
  return new SelectDestinations(config, { manager } as unknown as HostStates, {
    inMaintenance: async () => maintenance,
  });
}
const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('nothing thrown');
};
const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('nothing thrown');
};
const data = (p: NovaObjectPrimitive) => p['nova_object.data'];

beforeAll(() => Logger.overrideLogger(false)); // the use-case's debug line per request

describe('Nova object primitives (libs/contracts nova-objects)', () => {
  it('reads the fields of any version, the unknown ones left to the caller', () => {
    const f = { ...flavorObj(1, 1024, 10), 'nova_object.version': '9.99' };
    expect(readNovaObject({ ...f, 'nova_object.data': { ...data(f), future_field: 1 } }, 'Flavor', 'x')).toMatchObject({
      vcpus: 1,
      future_field: 1,
    });
  });

  it('names the argument that is not the object asked for', () => {
    expect(thrown(() => readNovaObject({ vcpus: 1 }, 'Flavor', 'spec_obj.flavor')).message).toBe(
      'Invalid parameter value: spec_obj.flavor: must be a Flavor object primitive',
    );
    expect(thrown(() => readNovaObject(obj('ImageMeta', '1.8', {}), 'Flavor', 'f')).message).toBe(
      'Invalid parameter value: f: must be a Flavor object, not ImageMeta',
    );
  });

  it("an ObjectList's members, each of the item's name", () => {
    const list = data(retryObj(1, [['cn1', 'n1']])).hosts;
    expect(readNovaObjectList(list, 'ComputeNodeList', 'ComputeNode', 'h')).toEqual([
      { host: 'cn1', hypervisor_hostname: 'n1' },
    ]);
  });

  it('builds a primitive whose set fields are all changed, as a newly made Nova object', () => {
    expect(novaObject('Selection', '1.1', { nodename: 'n', service_host: 'h' })).toEqual({
      'nova_object.name': 'Selection',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.1',
      'nova_object.data': { nodename: 'n', service_host: 'h' },
      'nova_object.changes': ['nodename', 'service_host'],
    });
  });
});

describe('a RequestSpec and the legacy dicts read into one scheduling request', () => {
  it('RequestSpec: flavor, count, retry, ignore/force hosts and nodes, requested destination', () => {
    const spec = specObj({
      flavor: flavorObj(1, 1024, 10, { cpu_arch: 'x86_64' }),
      num_instances: 2,
      ignore_hosts: ['cnX'],
      force_hosts: null,
      force_nodes: ['n1'],
      retry: retryObj(1, [['cn1', 'n1']]),
      requested_destination: obj('Destination', '1.4', { host: 'cn1', node: 'n1', allow_cross_cell_move: false }),
    });
    expect(specSchedulingRequest(spec)).toEqual({
      flavor: {
        name: 'bm.1-1024-10',
        vcpus: 1,
        memory_mb: 1024,
        root_gb: 10,
        ephemeral_gb: 0,
        swap: 0,
        extra_specs: { cpu_arch: 'x86_64' },
      },
      count: 2,
      attempts: 1,
      tried: [['cn1', 'n1']],
      ignoreHosts: ['cnX'],
      forceHosts: undefined,
      forceNodes: ['n1'],
      destination: { host: 'cn1', node: 'n1' },
    });
  });

  it('instance_uuids (4.4+) count the instances, as Nova prefers them to num_instances', () => {
    const spec = specObj({ flavor: flavorObj(1, 1024, 10), num_instances: 5 });
    expect(specSchedulingRequest(spec, ['u1', 'u2']).count).toBe(2);
    expect(specSchedulingRequest(spec, null).count).toBe(5);
    expect(specSchedulingRequest(specObj({ flavor: flavorObj(1, 1024, 10), num_instances: undefined })).count).toBe(1);
  });

  it('the legacy form (what Nova sends at 4.0: to_legacy_*_dict) gives the same request', () => {
    const legacy = legacySchedulingRequest(
      { num_instances: 1, image: { id: 'i' }, instance_properties: {}, instance_type: flavorObj(1, 1024, 10) },
      {
        ignore_hosts: ['cnX'],
        retry: { num_attempts: 1, hosts: [['cn1', 'n1']] },
        requested_destination: obj('Destination', '1.4', { host: 'cn1' }),
      },
    );
    const spec = specSchedulingRequest(
      specObj({
        flavor: flavorObj(1, 1024, 10),
        ignore_hosts: ['cnX'],
        retry: retryObj(1, [['cn1', 'n1']]),
        requested_destination: obj('Destination', '1.4', { host: 'cn1', node: null }),
      }),
    );
    expect(spec).toEqual(legacy);
  });

  it('bad fields are named where they are in the RequestSpec', () => {
    const bad = { ...data(flavorObj(1, 1024, 10)), vcpus: 'one' };
    const e = thrown(() => specSchedulingRequest(specObj({ flavor: obj('Flavor', '1.2', bad) })));
    expect([e.name, e.message]).toEqual([
      'InvalidParameterValue',
      'Invalid flavor: spec_obj.flavor.vcpus: must be an integer number',
    ]);
    expect(thrown(() => specSchedulingRequest(specObj({})))).toBeInstanceOf(InvalidParameterValue);
    expect(
      thrown(() => specSchedulingRequest(specObj({ flavor: flavorObj(1, 1024, 10), ignore_hosts: 'cn1' }))).message,
    ).toBe('Invalid request: spec_obj.ignore_hosts: must be a list of strings');
    expect(thrown(() => specSchedulingRequest({ vcpus: 1 })).message).toMatch(/spec_obj: must be a RequestSpec/);
  });
});

describe('select_destinations answers (4.0 dicts, 4.5 Selection objects with alternates)', () => {
  const spec = (extra: Record<string, unknown> = {}) => specObj({ flavor: flavorObj(1, 1024, 10), ...extra });
  const v45 = (extra: Record<string, unknown> = {}, more: Partial<SelectDestinationsArgs> = {}) => ({
    spec_obj: spec(extra),
    instance_uuids: ['u1'],
    return_objects: true,
    return_alternates: true,
    ...more,
  });

  it('4.0: one host dict per instance', async () => {
    const s = scheduler();
    const legacy = { request_spec: { instance_type: flavorObj(1, 1024, 10), num_instances: 2 } };
    expect(await s.answer(legacy)).toEqual([
      { host: 'cn1', nodename: N.a, limits: {} },
      { host: 'cn1', nodename: N.b, limits: {} },
    ]);
  });

  it('4.3/4.4 without return_objects: host dicts', async () => {
    expect(await scheduler().answer({ spec_obj: spec() })).toEqual([{ host: 'cn1', nodename: N.a, limits: {} }]);
    expect(await scheduler().answer({ spec_obj: spec(), instance_uuids: ['u1'] })).toHaveLength(1);
  });

  it('4.5: a Selection per node, chosen first then scheduler_max_attempts - 1 alternates, not consumed', async () => {
    const s = scheduler();
    const [[first, ...alts]] = (await s.answer(v45())) as NovaObjectPrimitive[][];
    expect(first).toEqual({
      'nova_object.name': 'Selection',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.1',
      'nova_object.data': {
        compute_node_uuid: N.a,
        service_host: 'cn1',
        nodename: N.a,
        cell_uuid: NOVA_BM_CELL_UUID,
        limits: novaObject('SchedulerLimits', '1.0', {
          numa_topology: null,
          vcpu: null,
          disk_gb: null,
          memory_mb: null,
        }),
        allocation_request: 'null',
        allocation_request_version: null,
        availability_zone: 'nova',
      },
      'nova_object.changes': [
        'allocation_request',
        'allocation_request_version',
        'availability_zone',
        'cell_uuid',
        'compute_node_uuid',
        'limits',
        'nodename',
        'service_host',
      ],
    });
    expect(alts.map((a) => data(a).nodename)).toEqual([N.b, N.c]);
    // The alternates were not consumed: the next request gets the first of them.
    const [[next, ...rest]] = (await s.answer(v45())) as NovaObjectPrimitive[][];
    expect([data(next).nodename, ...rest.map((a) => data(a).nodename)]).toEqual([N.b, N.c]);
  });

  it('return_objects without return_alternates: just the chosen Selection', async () => {
    const r = (await scheduler().answer(v45({}, { return_alternates: false }))) as NovaObjectPrimitive[][];
    expect(r.map((l) => l.map((x) => data(x).nodename))).toEqual([[N.a]]);
  });

  it('two instances: each its own node, the same alternates (never a chosen node)', async () => {
    const r = (await scheduler().answer(v45({}, { instance_uuids: ['u1', 'u2'] }))) as NovaObjectPrimitive[][];
    expect(r.map((l) => l.map((x) => data(x).nodename))).toEqual([
      [N.a, N.c],
      [N.b, N.c],
    ]);
  });

  it('ignore_hosts, the retry list and requested_destination are honoured', async () => {
    const names = (r: unknown) => (r as NovaObjectPrimitive[][]).map((l) => l.map((x) => data(x).nodename));
    expect(names(await scheduler().answer(v45({ ignore_hosts: ['CN1'] })))).toEqual([[N.c]]);
    expect(names(await scheduler().answer(v45({ retry: retryObj(1, [['cn1', N.a]]) })))).toEqual([[N.b, N.c]]);
    expect(
      names(await scheduler().answer(v45({ requested_destination: obj('Destination', '1.4', { host: 'cn2' }) }))),
    ).toEqual([[N.c]]);
    expect(names(await scheduler().answer(v45({ force_nodes: [N.b] })))).toEqual([[N.b]]);
  });

  it('a node in maintenance is neither chosen nor an alternate; NoValidHost names it with its reason', async () => {
    const names = (r: unknown) => (r as NovaObjectPrimitive[][]).map((l) => l.map((x) => data(x).nodename));
    const maintenance = new Map([
      [N.a, 'fan replaced'],
      [N.c, null],
    ]);
    expect(names(await scheduler(maintenance).answer(v45()))).toEqual([[N.b]]);
    const e = await rejection(scheduler(maintenance).answer(v45({ force_nodes: [N.a] })));
    expect(e.message).toBe(
      'No valid host was found. 0 of 4 nodes fit flavor bm.1-1024-10 (MaintenanceFilter rejected 2, force_nodes rejected 2).',
    );
    expect((e as NoValidHost).rejections.filter((r) => r.filter === 'MaintenanceFilter')).toEqual([
      { host: 'cn1', nodename: N.a, filter: 'MaintenanceFilter', reason: 'in maintenance: fan replaced' },
      { host: 'cn2', nodename: N.c, filter: 'MaintenanceFilter', reason: 'in maintenance' },
    ]);
  });

  it('no node fits: NoValidHost, naming the filters; past max attempts too', async () => {
    const e = await rejection(scheduler().answer(v45({ ignore_hosts: ['cn1', 'cn2'] })));
    expect(e).toBeInstanceOf(NoValidHost);
    expect(e.message).toBe('No valid host was found. 0 of 4 nodes fit flavor bm.1-1024-10 (ignore_hosts rejected 4).');
    const arm = await rejection(scheduler().answer(v45({ flavor: flavorObj(4, 8192, 80, { cpu_arch: 'x86_64' }) })));
    expect(arm.message).toMatch(/ComputeCapabilitiesFilter rejected 1/);
    const tired = await rejection(scheduler().answer(v45({ retry: retryObj(3, []) })));
    expect(tired.message).toBe('No valid host was found. Exceeded max scheduling attempts 3 for this request.');
  });
});

describe('the uuids a Selection carries', () => {
  it('uuid5 is RFC 4122 (the DNS example of Python uuid.uuid5)', () => {
    expect(uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('a node uuid is its compute node uuid; another name gets a stable derived one', () => {
    expect(computeNodeUuid('cn1', N.a.toUpperCase())).toBe(N.a);
    expect(computeNodeUuid('cn1', 'node-1')).toBe(computeNodeUuid('cn1', 'node-1'));
    expect(computeNodeUuid('cn1', 'node-1')).not.toBe(computeNodeUuid('cn2', 'node-1'));
  });
});

describe('the arguments (SelectDestinationsArgs, as the oslo controller validates them)', () => {
  const problems = (args: object) =>
    validationProblems(
      validateSync(plainToInstance(SelectDestinationsArgs, args), { whitelist: true, forbidNonWhitelisted: true }),
    ).map((p) => `${p.field}: ${p.message}`);

  it('every form Nova sends is accepted', () => {
    expect(problems({ request_spec: {}, filter_properties: {} })).toEqual([]);
    expect(problems({ spec_obj: {} })).toEqual([]);
    expect(problems({ spec_obj: {}, instance_uuids: null })).toEqual([]);
    expect(problems({ spec_obj: {}, instance_uuids: ['u1'], return_objects: true, return_alternates: false })).toEqual(
      [],
    );
  });

  it('one of request_spec and spec_obj is needed; unknown arguments and wrong types are named', () => {
    expect(problems({})).toEqual(['request_spec: must be an object']);
    expect(problems({ spec_obj: {}, request_spec: 'x' })).toEqual(['request_spec: must be an object']);
    expect(problems({ spec_obj: {}, instance_uuids: [1], return_objects: 'yes', extra: 1 })).toEqual([
      'extra: is not a known field',
      'instance_uuids: each value in instance_uuids must be a string',
      'return_objects: must be a boolean value',
    ]);
  });
});

describe('the host manager: alternates next to the chosen nodes', () => {
  const m = (policy: 'exact' | 'at-least') => {
    const hm = new BaremetalHostManager({ policy, clock: { now: () => 1_000, sleep: async () => undefined } });
    hm.report(report('cn1', 'big', 4, 8192, 80));
    hm.report(report('cn1', 'mid', 2, 2048, 20));
    hm.report(report('cn1', 'small', 1, 1024, 10));
    hm.report(report('cn2', 'small2', 1, 1024, 10));
    return hm;
  };
  const names = (p: { chosen: { nodename: string }[]; alternates: { nodename: string }[] }) => [
    p.chosen.map((n) => n.nodename),
    p.alternates.map((n) => n.nodename),
  ];
  const small = { vcpus: 1, memory_mb: 1024, root_gb: 10 };

  it('at-least: the smallest that fits chosen, the next smallest as alternates', () => {
    expect(names(m('at-least').place({ flavor: small, alternates: 2 }))).toEqual([['small'], ['small2', 'mid']]);
  });

  it('exact: only nodes equal to the flavor; fewer alternates when fewer fit', () => {
    const hm = m('exact');
    expect(names(hm.place({ flavor: small, alternates: 2 }))).toEqual([['small'], ['small2']]);
    expect(names(hm.place({ flavor: small, alternates: 2 }))).toEqual([['small2'], []]);
    expect(() => hm.place({ flavor: small, alternates: 2 })).toThrow(NoValidHost);
  });
});
