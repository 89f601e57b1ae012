import { unwrapObject } from '@bm/domain';
import { flavorOf, reportsOf, retryOf } from './scheduler-request';

const legacy = {
  id: 3,
  name: 'bm.small',
  vcpus: 1,
  memory_mb: 1024,
  root_gb: 10,
  ephemeral_gb: 0,
  swap: 0,
  flavorid: '3',
  rxtx_factor: 1.0,
  extra_specs: { cpu_arch: 'x86_64' },
};

describe('scheduler request parsing', () => {
  it('a flavor as a legacy dict, or as a Nova versioned-object primitive', () => {
    const want = {
      name: 'bm.small',
      vcpus: 1,
      memory_mb: 1024,
      root_gb: 10,
      ephemeral_gb: 0,
      swap: 0,
      extra_specs: { cpu_arch: 'x86_64' },
    };
    expect(flavorOf({ instance_type: legacy }, {})).toEqual(want);
    const primitive = {
      'nova_object.name': 'Flavor',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.1',
      'nova_object.data': legacy,
    };
    expect(flavorOf({ instance_type: primitive }, {})).toEqual(want);
    expect(flavorOf({}, { instance_type: legacy })).toEqual(want); // Grizzly put it in filter_properties
    expect(unwrapObject('x')).toBe('x');
  });

  it('names every bad flavor field; numbers are not coerced', () => {
    expect(() => flavorOf({ instance_type: { ...legacy, vcpus: '1', memory_mb: -1 } }, {})).toThrow(
      'Invalid flavor: request_spec.instance_type.vcpus: must be an integer number; request_spec.instance_type.memory_mb: must not be less than 0',
    );
    expect(() => flavorOf({}, {})).toThrow('Invalid flavor: request_spec.instance_type: must be an object');
  });

  it('retry: attempts and the (host, node) pairs tried; junk entries ignored', () => {
    expect(
      retryOf({ retry: { num_attempts: 2, hosts: [['cn1', 'n1'], ['cn2'], 'x', ['cn3', 'n3', 'extra']] } }),
    ).toEqual({
      attempts: 2,
      tried: [
        ['cn1', 'n1'],
        ['cn3', 'n3'],
      ],
    });
    expect(retryOf({})).toEqual({ attempts: 0, tried: [] });
  });

  it('a compute report: each node checked, the whole report refused naming the bad entries', () => {
    const ok = {
      hypervisor_hostname: 'u1',
      vcpus: 1,
      memory_mb: 512,
      local_gb: 5,
      vcpus_used: 0,
      memory_mb_used: 0,
      local_gb_used: 0,
      cpu_info: 'baremetal cpu',
      stats: '{"cpu_arch":"x86_64"}',
    };
    expect(reportsOf('cn1', [ok])).toEqual([{ ...ok, host: 'cn1' }]);
    expect(() => reportsOf('cn1', [ok, { ...ok, vcpus: -1 }, 'x'])).toThrow(
      'Invalid capabilities from cn1: capabilities[1].vcpus: must not be less than 0; capabilities[2]: must be an object',
    );
  });
});
