import { loadConfigFromText } from '@bm/config';
import { bootImages as spawnImages, instanceRef } from './instance-args';

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

  it('images: absolute paths; the deploy pair defaults to [baremetal] deploy_kernel/deploy_ramdisk', () => {
    const config = loadConfigFromText(
      '[baremetal]\ndeploy_kernel = /srv/deploy.kernel\ndeploy_ramdisk = /srv/deploy.initrd\n',
      { env: {} },
    );
    expect(spawnImages({ kernel: '/i/k', ramdisk: '/i/r' }, config)).toEqual({
      kernel: '/i/k',
      ramdisk: '/i/r',
      deploy_kernel: '/srv/deploy.kernel',
      deploy_ramdisk: '/srv/deploy.initrd',
    });
    expect(
      spawnImages({ kernel: '/i/k', ramdisk: '/i/r', deploy_kernel: '/d/k', deploy_ramdisk: '/d/r' }, config)
        .deploy_kernel,
    ).toBe('/d/k');
    const bare = loadConfigFromText('', { env: {} });
    expect(() => spawnImages({ kernel: 'k', ramdisk: '/i/r' }, bare)).toThrow(
      'Invalid image: image.kernel: must be an absolute path on the compute host; image.deploy_kernel: must be an absolute path on the compute host; image.deploy_ramdisk: must be an absolute path on the compute host',
    );
  });
});
