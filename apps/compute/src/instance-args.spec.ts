import { deployDisk, instanceRef } from './instance-args';

const UUID = '6f1ad2c6-8d4e-4c55-9a4c-0c3e0b1f2a01';

describe('run_instance arguments', () => {
  it('an instance as a legacy dict or a versioned-object primitive; its name from hostname, display_name or name', () => {
    expect(instanceRef({ uuid: UUID, hostname: 'vm1', display_name: 'VM 1' })).toMatchObject({
      uuid: UUID,
      name: 'vm1',
      fields: { display_name: 'VM 1' },
    });
    const primitive = {
      'nova_object.name': 'Instance',
      'nova_object.namespace': 'nova',
      'nova_object.version': '2.1',
      'nova_object.data': { uuid: UUID, display_name: 'VM 1' },
    };
    // The primitive is kept as Nova sent it: Nova's conductor saves the instance from it.
    expect(instanceRef(primitive)).toEqual({
      uuid: UUID,
      name: 'VM 1',
      fields: { uuid: UUID, display_name: 'VM 1' },
      primitive,
    });
    expect(instanceRef({ uuid: UUID })).not.toHaveProperty('primitive');
    expect(instanceRef({ uuid: UUID })).toMatchObject({ uuid: UUID, name: `instance-${UUID}` });
    expect(() => instanceRef({ uuid: 'x' })).toThrow('Invalid instance: instance.uuid: must be a UUID');
  });

  it("the deploy's disk from the flavor as the seed cached it: GB → MiB, swap at least 1 MiB", () => {
    const flavor = { root_gb: 10, ephemeral_gb: 2, swap: 512 };
    expect(deployDisk(flavor, {})).toEqual({ root_mb: 10240, swap_mb: 512, ephemeral_mb: 2048 });
    expect(deployDisk({ root_gb: 5, swap: 0 }, {})).toEqual({ root_mb: 5120, swap_mb: 1, ephemeral_mb: 0 });
    // A Flavor primitive, the instance's own flavor, else the instance's root_gb / ephemeral_gb.
    const primitive = { 'nova_object.name': 'Flavor', 'nova_object.data': flavor };
    expect(deployDisk(primitive, {})).toEqual(deployDisk(flavor, {}));
    expect(deployDisk(undefined, { flavor: primitive })).toEqual(deployDisk(flavor, {}));
    expect(deployDisk(undefined, { root_gb: 3, ephemeral_gb: 1 })).toEqual({
      root_mb: 3072,
      swap_mb: 1,
      ephemeral_mb: 1024,
    });
    expect(deployDisk(undefined, { uuid: 'x' })).toBeUndefined();
  });
});
