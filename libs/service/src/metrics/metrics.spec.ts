import { parseExposition } from '../../../../test/support/prometheus';
import { Metrics, PROMETHEUS_CONTENT_TYPE } from './metrics';

/** Every bm_ metric an app can register, by the group that registers it. */
const GROUPS: Record<string, [name: string, type: string][]> = {
  always: [
    ['bm_rpc_calls_total', 'counter'],
    ['bm_rpc_call_duration_seconds', 'histogram'],
    ['bm_rpc_client_calls_total', 'counter'],
    ['bm_rpc_client_call_duration_seconds', 'histogram'],
    ['bm_rpc_client_casts_total', 'counter'],
    ['bm_queue_messages', 'gauge'],
  ],
  power: [
    ['bm_power_sync_duration_seconds', 'histogram'],
    ['bm_power_sync_errors_total', 'counter'],
  ],
  ipmi: [
    ['bm_ipmi_sessions_total', 'counter'],
    ['bm_ipmi_retransmits_total', 'counter'],
  ],
  netboot: [
    ['bm_dhcp_packets_total', 'counter'],
    ['bm_tftp_transfers_total', 'counter'],
    ['bm_tftp_bytes_total', 'counter'],
  ],
  spawn: [
    ['bm_spawns_total', 'counter'],
    ['bm_spawn_phase_seconds', 'histogram'],
  ],
  deploy: [
    ['bm_deploy_bytes_total', 'counter'],
    ['bm_deploy_duration_seconds', 'histogram'],
  ],
};

const bmFamilies = async (m: Metrics) =>
  [...parseExposition(await m.exposition()).families.values()]
    .filter((f) => f.name.startsWith('bm_'))
    .map((f) => [f.name, f.type]);

describe('Metrics', () => {
  it('serves the process metrics and the RPC and queue metrics, in the text format', async () => {
    const m = new Metrics();
    expect(PROMETHEUS_CONTENT_TYPE).toMatch(/^text\/plain; version=0\.0\.4/);
    const e = parseExposition(await m.exposition());
    // prom-client's default process metrics.
    expect(e.families.get('process_cpu_user_seconds_total')).toMatchObject({ type: 'counter' });
    expect(e.families.get('nodejs_heap_size_used_bytes')).toMatchObject({ type: 'gauge' });
    expect(e.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(await bmFamilies(m)).toEqual(GROUPS.always);
  });

  it("registers an app's group when the app first asks for it, once", async () => {
    const m = new Metrics({ processMetrics: false });
    void m.power;
    void m.power; // the same group again: no second registration
    void m.netboot;
    void m.spawn;
    void m.deploy;
    m.watchIpmi({ sessionsOpened: 0, retransmits: 0 });
    m.watchIpmi({ sessionsOpened: 0, retransmits: 0 });
    const want = Object.values(GROUPS).flat();
    expect((await bmFamilies(m)).sort()).toEqual(want.sort());
  });

  it('every metric is named bm_…, documented, with units in the names of histograms', async () => {
    const m = new Metrics({ processMetrics: false });
    void [m.power, m.netboot, m.spawn, m.deploy];
    m.watchIpmi({ sessionsOpened: 0, retransmits: 0 });
    for (const f of parseExposition(await m.exposition()).families.values()) {
      expect(f.name).toMatch(/^bm_[a-z_]+$/);
      expect(f.help?.length).toBeGreaterThan(20);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      if (f.type === 'histogram') expect(f.name).toMatch(/_seconds$/);
    }
  });

  it('counts what the observers are told, and the exposition reads back', async () => {
    const m = new Metrics({ processMetrics: false });
    m.rpc.served('power_on', 'ok', 0.02);
    m.rpc.served('power_on', 'ok', 0.3);
    m.rpc.served('power_on', 'unavailable', 2);
    m.rpc.called('prepare_deploy', 'timeout', 60);
    m.rpc.cast('run_instance', 'ok');
    m.rpc.cast('run_instance', 'unavailable');
    m.power.syncDuration.observe(0.12);
    m.power.syncErrors.inc({ bmc: '10.0.0.7:623' });
    m.netboot.dhcp('offer');
    m.netboot.dhcp('ignored-unenrolled');
    m.netboot.dhcp('ignored');
    m.netboot.tftp('complete', 1000);
    m.netboot.tftp('timeout', 0);
    m.spawn.phase('deploy', 42);
    m.spawn.ended('active');
    m.deploy.written(5 * 1024 * 1024);
    m.deploy.deployed('done', 31);
    const ipmi = { sessionsOpened: 2, retransmits: 5 };
    m.watchIpmi(ipmi);
    const e = parseExposition(await m.exposition());
    expect(e.value('bm_rpc_calls_total', { method: 'power_on', outcome: 'ok' })).toBe(2);
    expect(e.value('bm_rpc_calls_total', { method: 'power_on' })).toBe(3);
    expect(e.value('bm_rpc_call_duration_seconds_count', { method: 'power_on' })).toBe(3);
    expect(e.value('bm_rpc_call_duration_seconds_sum', { method: 'power_on' })).toBeCloseTo(2.32);
    // Cumulative buckets: 0.02 ≤ 0.025; 0.3 ≤ 0.5; 2 ≤ 2.5.
    expect(e.value('bm_rpc_call_duration_seconds_bucket', { method: 'power_on', le: '0.025' })).toBe(1);
    expect(e.value('bm_rpc_call_duration_seconds_bucket', { method: 'power_on', le: '0.5' })).toBe(2);
    expect(e.value('bm_rpc_call_duration_seconds_bucket', { method: 'power_on', le: '+Inf' })).toBe(3);
    expect(e.value('bm_rpc_client_calls_total', { method: 'prepare_deploy', outcome: 'timeout' })).toBe(1);
    expect(e.value('bm_rpc_client_casts_total', { method: 'run_instance', outcome: 'ok' })).toBe(1);
    expect(e.value('bm_rpc_client_casts_total', { method: 'run_instance' })).toBe(2);
    expect(e.value('bm_power_sync_duration_seconds_count')).toBe(1);
    expect(e.value('bm_power_sync_errors_total', { bmc: '10.0.0.7:623' })).toBe(1);
    expect(e.value('bm_dhcp_packets_total', { kind: 'offer' })).toBe(1);
    expect(e.value('bm_dhcp_packets_total', { kind: 'ignored' })).toBe(2);
    expect(e.find('bm_dhcp_packets_total', { kind: 'ignored-unenrolled' })).toEqual([]);
    expect(e.value('bm_tftp_transfers_total', { outcome: 'complete' })).toBe(1);
    expect(e.value('bm_tftp_transfers_total', { outcome: 'timeout' })).toBe(1);
    expect(e.value('bm_tftp_bytes_total')).toBe(1000);
    expect(e.value('bm_spawn_phase_seconds_sum', { phase: 'deploy' })).toBe(42);
    expect(e.value('bm_spawns_total', { outcome: 'active' })).toBe(1);
    expect(e.value('bm_deploy_bytes_total')).toBe(5 * 1024 * 1024);
    expect(e.value('bm_deploy_duration_seconds_count', { outcome: 'done' })).toBe(1);
    expect(e.value('bm_ipmi_sessions_total')).toBe(2);
    expect(e.value('bm_ipmi_retransmits_total')).toBe(5);
    // The IPMI counters are read at each scrape.
    ipmi.sessionsOpened = 3;
    expect(parseExposition(await m.exposition()).value('bm_ipmi_sessions_total')).toBe(3);
  });

  it('reads the depth of the watched queues at scrape time; a failed read leaves them out', async () => {
    const m = new Metrics({ processMetrics: false });
    m.watchQueues('baremetal-power', 'baremetal-power.cn1');
    // No reader yet (the broker connection is not up): no samples, and no error.
    expect(parseExposition(await m.exposition()).find('bm_queue_messages')).toEqual([]);
    const asked: string[][] = [];
    let depth = 4;
    m.readQueuesWith(async (queues) => {
      asked.push([...queues]);
      return new Map([['baremetal-power', depth]]);
    });
    expect(parseExposition(await m.exposition()).find('bm_queue_messages')).toEqual([
      { name: 'bm_queue_messages', labels: { queue: 'baremetal-power' }, value: 4 },
    ]);
    depth = 0;
    expect(parseExposition(await m.exposition()).value('bm_queue_messages', { queue: 'baremetal-power' })).toBe(0);
    expect(asked).toEqual([
      ['baremetal-power', 'baremetal-power.cn1'],
      ['baremetal-power', 'baremetal-power.cn1'],
    ]);
    m.readQueuesWith(() => Promise.reject(new Error('broker away')));
    expect(parseExposition(await m.exposition()).find('bm_queue_messages')).toEqual([]);
  });
});
