import { Logger } from '@nestjs/common';
import type { ComputeClient } from '@bm/contracts';
import { loadConfig } from '@bm/config';
import type { ComputeNodeRepository } from '@bm/db';
import { HostStates } from './host-states.service';

const node = (uuid: string) => ({
  hypervisor_hostname: uuid,
  vcpus: 1,
  memory_mb: 1024,
  local_gb: 10,
  vcpus_used: 0,
  memory_mb_used: 0,
  local_gb_used: 0,
});

function hostStates(env: Record<string, string>) {
  const config = loadConfig({ env });
  const clock = { now: () => 1_000, sleep: async () => undefined };
  const states = new HostStates(config, clock, {} as ComputeNodeRepository, {} as ComputeClient);
  // The real host's report, taken before any check applies.
  states.replaceHost('real', [node('n-real')], 'compute-real');
  return states;
}
const held = (s: HostStates) => s.manager.states().map((x) => `${x.host}/${x.nodename}`);

describe('HostStates: who may report a host (update_service_capabilities)', () => {
  let warnings: string[];
  beforeEach(() => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    // [forgery, sender, host reported, what the log says]
    ['empties a real host', 'compute-evil', 'real', 'broker user compute-evil does not speak for host real'],
    ['adds a fake host', 'compute-real', 'fake', 'broker user compute-real does not speak for host fake'],
    ['sends without user_id (any raw publish)', undefined, 'real', 'it carries no user_id'],
    ['comes from another service', 'scheduler', 'real', 'broker user scheduler does not speak for host real'],
  ])('with rpc_check_sender, refuses a report that %s, changing nothing', (_what, sender, host, why) => {
    const s = hostStates({ BM_RPC_CHECK_SENDER: 'true' });
    expect(s.replaceHost(host, host === 'fake' ? [node('n-fake')] : [], sender)).toBe(false);
    expect(held(s)).toEqual(['real/n-real']);
    expect(warnings).toEqual([`update_service_capabilities for host ${host} refused: ${why}`]);
  });

  it('takes the host’s own user, and the users of rpc_host_users', () => {
    const s = hostStates({ BM_RPC_CHECK_SENDER: 'true', BM_RPC_HOST_USERS: 'cluster-a:other' });
    expect(s.replaceHost('real', [node('n-real'), node('n-2')], 'compute-real')).toBe(true);
    expect(s.replaceHost('other', [node('n-o')], 'cluster-a')).toBe(true);
    expect(held(s).sort()).toEqual(['other/n-o', 'real/n-2', 'real/n-real']);
    expect(warnings).toEqual([]);
  });

  it('takes any report with the check off (the default: oslo peers send no user_id)', () => {
    const s = hostStates({});
    expect(s.replaceHost('fake', [node('n-fake')], undefined)).toBe(true);
    expect(s.replaceHost('real', [], 'compute-evil')).toBe(true);
    expect(held(s)).toEqual(['fake/n-fake']);
  });
});
