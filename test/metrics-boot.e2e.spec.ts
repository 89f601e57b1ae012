import { eventually } from './support/amqp';
import { type Exposition, parseExposition } from './support/prometheus';
import { type Stack, type StackNode, startStack } from './support/stack';

// The test: every service's /metrics scraped and parsed (the Prometheus text format)
// before and after a boot of one simulated node through the whole stack (scheduler, compute,
// power, netboot's DHCP and TFTP, the deploy helper), with the counters of each moving.
const NODE: StackNode = { name: 'met-1', mac: '52:54:00:89:00:01', memory: 512 };
const APPS = ['scheduler', 'compute', 'power', 'netboot', 'deploy-helper'] as const;
type App = (typeof APPS)[number];

jest.setTimeout(300_000);

describe('/metrics of every service before and after a boot', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      name: 'metrics',
      host: 'metrics-host',
      nodes: [NODE],
      subnet: '10.89.0',
      bmcPassword: 'metrics-bmc-pw',
      scheduler: true,
      deployTimeoutS: 120,
      deployWorkers: 1,
    });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  const scrapeAll = async (): Promise<Record<App, Exposition>> =>
    Object.fromEntries(
      await Promise.all(APPS.map(async (app) => [app, parseExposition(await stack.healthGet(app, '/metrics'))])),
    ) as Record<App, Exposition>;

  it('the counters move: RPC by method, spawn phases, power, DHCP, TFTP, the deploy', async () => {
    const images = await stack.uploadImages({ 'metrics-image': 'metrics test\n' });
    await stack.createFlavor('metrics-512', NODE, images);
    const before = await scrapeAll();
    for (const app of APPS)
      expect([app, before[app].value('bm_rpc_calls_total', { outcome: 'ok' }) >= 0]).toEqual([app, true]);
    expect(before.compute.value('bm_spawns_total')).toBe(0);

    const boot = await stack.cli(
      'boot',
      'metrics-vm',
      '--flavor',
      'metrics-512',
      '--image',
      'metrics-image',
      '--timeout',
      '150',
      '--json',
    );
    if (boot.code !== 0) throw new Error(`bmctl boot: ${boot.err}\n${stack.logs(NODE)}`);
    await eventually(async () => expect((await stack.rowOf(NODE)).task_state).toBe('active'), 30_000, 500);

    // Counted when each step ends (a cast's server counts once its method returned): read until
    // the last of them is in.
    let after = await scrapeAll();
    const moved = (app: App, name: string, labels: Record<string, string> = {}) =>
      after[app].value(name, labels) - before[app].value(name, labels);
    await eventually(
      async () => {
        after = await scrapeAll();
        expect(moved('compute', 'bm_spawns_total', { outcome: 'active' })).toBe(1);
        expect(moved('deploy-helper', 'bm_deploy_duration_seconds_count', { outcome: 'done' })).toBe(1);
      },
      30_000,
      500,
    );

    // The scheduler placed it; compute ran it, each phase timed once, and called netboot and power.
    expect(moved('scheduler', 'bm_rpc_calls_total', { method: 'run_instance', outcome: 'ok' })).toBe(1);
    expect(moved('compute', 'bm_rpc_calls_total', { method: 'run_instance', outcome: 'ok' })).toBe(1);
    expect(moved('scheduler', 'bm_rpc_client_casts_total', { method: 'run_instance', outcome: 'ok' })).toBe(1);
    for (const phase of ['prepare', 'power', 'pxe_boot', 'deploy', 'activate'])
      expect([phase, moved('compute', 'bm_spawn_phase_seconds_count', { phase })]).toEqual([phase, 1]);
    expect(moved('compute', 'bm_spawn_phase_seconds_sum', { phase: 'deploy' })).toBeGreaterThan(0);
    expect(moved('compute', 'bm_rpc_client_calls_total', { method: 'prepare_deploy', outcome: 'ok' })).toBe(1);
    expect(
      moved('compute', 'bm_rpc_client_call_duration_seconds_count', { method: 'power_on' }),
    ).toBeGreaterThanOrEqual(1);

    // power: the boot device and the power calls, each ok.
    for (const method of ['set_boot_device', 'power_off', 'power_on'])
      expect([method, moved('power', 'bm_rpc_calls_total', { method, outcome: 'ok' })]).toEqual([method, 1]);
    expect(after.power.value('bm_ipmi_sessions_total')).toBeGreaterThanOrEqual(1);
    expect(after.power.value('bm_power_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);

    // netboot: the PXE files, the node's DHCP and its TFTP downloads (the deploy pair at least).
    expect(moved('netboot', 'bm_rpc_calls_total', { method: 'prepare_deploy', outcome: 'ok' })).toBe(1);
    expect(moved('netboot', 'bm_rpc_calls_total', { method: 'activate_boot', outcome: 'ok' })).toBe(1);
    expect(moved('netboot', 'bm_dhcp_packets_total', { kind: 'offer' })).toBeGreaterThanOrEqual(1);
    expect(moved('netboot', 'bm_dhcp_packets_total', { kind: 'ack' })).toBeGreaterThanOrEqual(1);
    expect(moved('netboot', 'bm_tftp_transfers_total', { outcome: 'complete' })).toBeGreaterThanOrEqual(3);
    const deployPair = images.files['deploy-kernel'].length + images.files['deploy-ramdisk'].length;
    expect(moved('netboot', 'bm_tftp_bytes_total')).toBeGreaterThanOrEqual(deployPair);

    // The deploy helper wrote the image and told compute.
    expect(moved('deploy-helper', 'bm_deploy_bytes_total')).toBeGreaterThan(0);
    expect(moved('deploy-helper', 'bm_rpc_client_calls_total')).toBeGreaterThanOrEqual(1); // activate_boot
    expect(after['deploy-helper'].find('bm_queue_messages').map((s) => s.value)).toEqual([0, 0]);
    // No instance or node uuid ever became a label value.
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
    for (const app of APPS)
      for (const s of after[app].samples)
        expect([app, s.name, Object.values(s.labels).some((v) => uuid.test(v))]).toEqual([app, s.name, false]);
  });
});
