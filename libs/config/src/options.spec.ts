import { describeOptions } from './options';

describe('describeOptions', () => {
  const table = describeOptions();

  it('gives every option a unique environment variable (aliases included)', () => {
    const names = table.flatMap((option) => [option.env, ...option.envAliases]);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(['BM_MY_IP', 'BM_TFTP_ROOT', 'BM_SQL_CONNECTION', 'DATABASE_URL', 'TRANSPORT_URL']),
    );
    // BM_CONFIG_FILE names the file; no option may claim it.
    expect(names).not.toContain('BM_CONFIG_FILE');
  });

  it('gives every option name (and old spelling) a single meaning: in its group, and everywhere for old ones', () => {
    // Old spellings are looked for in every group; a current name only in its own, so two groups
    // may share one (oslo's [oslo_messaging_notifications] driver and our [baremetal] driver).
    const inGroup = table.flatMap((o) => [o.name, ...o.otherNames].map((n) => `${o.group}.${n}`));
    expect(new Set(inGroup).size).toBe(inGroup.length);
    const names = new Set(table.flatMap((o) => [o.name, ...o.otherNames]));
    const old = table.flatMap((o) => o.deprecatedNames);
    expect(new Set(old).size).toBe(old.length);
    expect(old.filter((n) => names.has(n))).toEqual([]);
  });

  it('describes options with env vars, deprecated names, defaults and help', () => {
    const byName = new Map(table.map((option) => [option.name, option]));
    expect(byName.get('sql_connection')).toEqual({
      group: 'baremetal',
      name: 'sql_connection',
      type: 'postgresql:// URL',
      deprecatedNames: ['baremetal_sql_connection'],
      otherNames: [],
      env: 'BM_SQL_CONNECTION',
      envAliases: ['DATABASE_URL'],
      default: 'postgresql://postgres@127.0.0.1:5432/nova_bm',
      help: expect.any(String),
    });
    expect(byName.get('tftp_root')).toMatchObject({ env: 'BM_TFTP_ROOT', deprecatedNames: ['baremetal_tftp_root'] });
    expect(byName.get('instance_type_extra_specs')).toMatchObject({ otherNames: ['flavor_extra_specs'], default: '' });
    expect(byName.get('my_ip')).toMatchObject({
      group: 'DEFAULT',
      env: 'BM_MY_IP',
      default: '127.0.0.1',
      type: 'IPv4 address',
    });
    expect(byName.get('transport_url')).toMatchObject({
      default: 'rabbit://guest:****@127.0.0.1:5672/',
      envAliases: ['TRANSPORT_URL'],
    });
    expect(byName.get('health_port')).toMatchObject({ type: 'integer 0..65535', default: '0' });
    expect(table.every((option) => option.help.length > 0)).toBe(true);
  });

  it('describes the deploy helper group (resolved by load.ts once it is wired)', () => {
    const byName = new Map(table.map((option) => [option.name, option]));
    expect(byName.get('callback_listen_address')).toMatchObject({ group: 'deploy_helper', default: '0.0.0.0' });
    expect(byName.get('callback_port')).toMatchObject({ env: 'BM_CALLBACK_PORT', default: '10000' });
    expect(byName.get('callback_max_body_bytes')).toMatchObject({ default: '4096', type: 'integer 256..1048576' });
    expect(byName.get('deploy_workers')).toMatchObject({ env: 'BM_DEPLOY_WORKERS', default: '1' });
  });

  it('describes the images and glance groups', () => {
    const byName = new Map(table.map((option) => [option.name, option]));
    expect(byName.get('api_port')).toMatchObject({ group: 'images', env: 'BM_API_PORT', default: '9292' });
    expect(byName.get('api_listen_address')).toMatchObject({ group: 'images', default: '127.0.0.1' });
    expect(byName.get('data_dir')).toMatchObject({ env: 'BM_DATA_DIR', default: '/var/lib/nova-bm/images' });
    expect(byName.get('api_servers')).toMatchObject({
      group: 'glance',
      env: 'BM_API_SERVERS',
      default: 'http://127.0.0.1:9292',
      deprecatedNames: ['glance_api_servers'],
    });
  });
});
