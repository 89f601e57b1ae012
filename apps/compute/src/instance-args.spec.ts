import { instanceRef } from './instance-args';

const UUID = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';

describe('run_instance arguments', () => {
  it('an instance as a legacy dict or a versioned-object primitive; its name from hostname, display_name or name', () => {
    expect(instanceRef({ uuid: UUID, hostname: 'vm1', display_name: 'VM 1' })).toMatchObject({
      uuid: UUID,
      name: 'vm1',
      fields: { display_name: 'VM 1' },
    });
    expect(
      instanceRef({
        'nova_object.name': 'Instance',
        'nova_object.namespace': 'nova',
        'nova_object.version': '2.1',
        'nova_object.data': { uuid: UUID, display_name: 'VM 1' },
      }),
    ).toEqual({ uuid: UUID, name: 'VM 1', fields: { uuid: UUID, display_name: 'VM 1' } });
    expect(instanceRef({ uuid: UUID })).toMatchObject({ uuid: UUID, name: `instance-${UUID}` });
    expect(() => instanceRef({ uuid: 'x' })).toThrow('Invalid instance: instance.uuid: must be a UUID');
  });
});
