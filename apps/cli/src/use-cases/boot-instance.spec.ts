import type { SchedulerClient, SchedulerRunInstanceArgs } from '@bm/contracts';
import type { Clock } from '@bm/core';
import type { Flavor, FlavorRepository, InstanceRow, NodeRepository } from '@bm/db';
import type { ReceivedNotification } from '@bm/messaging';
import { BootFailed, BootInstance, BootTimedOut } from './boot-instance';

// `bmctl boot`'s use case against fakes: the scheduler's cast recorded, the nodes' rows moved by
// the test, time that passes only with the polls (each sleep advances it).
const FLAVOR = {
  id: 1,
  name: 'lab.sim',
  vcpus: 1,
  memory_mb: 2048,
  root_gb: 1,
  ephemeral_gb: 1,
  swap: 0,
  extra_specs: '{"cpu_arch":"x86_64"}',
} as unknown as Flavor;
const IMAGE = { id: 'img-1', properties: { kernel_id: 'k', ramdisk_id: 'r' } };

function harness(
  o: { onCast?: (uuids: string[]) => void; states?: (polls: number) => string; progress?: (l: string) => void } = {},
) {
  const casts: SchedulerRunInstanceArgs[] = [];
  let uuids: string[] = [];
  let polls = 0;
  let notify: (n: ReceivedNotification) => void = () => undefined;
  let listens = 0;
  const rows = (): InstanceRow[] =>
    uuids.map(
      (uuid, i) =>
        ({
          instance_uuid: uuid,
          instance_name: `n${i}`,
          task_state: o.states?.(polls) ?? 'active',
          node_uuid: `node-${i}`,
          node_id: i + 1,
          service_host: 'cn1',
        }) as unknown as InstanceRow,
    );
  const instanceQueries: unknown[] = [];
  let time = 0;
  const clock: Clock = { now: () => time, sleep: async (ms) => void (time += ms) };
  const boot = new BootInstance({
    flavors: { byName: async () => FLAVOR } as unknown as FlavorRepository,
    nodes: {
      instances: async (filter?: unknown) => {
        polls++;
        instanceQueries.push(filter);
        return rows();
      },
    } as unknown as NodeRepository,
    scheduler: {
      runInstance: async (a: SchedulerRunInstanceArgs) => {
        casts.push(a);
        uuids = a.request_spec.instance_uuids as string[];
        o.onCast?.(uuids);
      },
    } as unknown as SchedulerClient,
    listen: async (_pool, on) => {
      listens++;
      notify = on;
      return { stop: async () => undefined };
    },
    clock,
    progress: o.progress ?? (() => undefined),
  });
  return {
    boot,
    casts,
    instanceQueries,
    notify: (n: ReceivedNotification) => notify(n),
    listens: () => listens,
  };
}
const request = { name: 'vm', flavor: 'lab.sim', image: IMAGE, waitFor: 'active' as const, timeoutS: 5 };
/** The scheduler's ERROR notification for one instance. */
const noValidHost = (instance: string, reason: string) =>
  ({
    eventType: 'scheduler.run_instance',
    priority: 'ERROR',
    payload: { instance_id: instance, exception: 'NoValidHost', reason },
  }) as unknown as ReceivedNotification;

describe('BootInstance', () => {
  it('one instance: one run_instance for its uuid, the row once active', async () => {
    const h = harness();
    const row = await h.boot.run(request);
    expect(h.casts).toHaveLength(1);
    const spec = h.casts[0].request_spec;
    expect(spec).toMatchObject({
      num_instances: 1,
      instance_uuids: [row.instance_uuid],
      instance_properties: { uuid: row.instance_uuid, hostname: 'vm', display_name: 'vm', image_ref: 'img-1' },
      instance_type: { name: 'lab.sim', memory_mb: 2048, extra_specs: { cpu_arch: 'x86_64' } },
      image: IMAGE,
    });
    expect(h.instanceQueries).toEqual([{ instanceUuid: row.instance_uuid }]);
  });

  it('count 3: one request for three uuids (the first one in instance_properties), three rows in request order', async () => {
    const h = harness();
    const rows = await h.boot.runAll({ ...request, count: 3 });
    expect(h.casts).toHaveLength(1);
    const spec = h.casts[0].request_spec;
    expect(spec.num_instances).toBe(3);
    expect(rows.map((r) => r.instance_uuid)).toEqual(spec.instance_uuids);
    expect(new Set(spec.instance_uuids as string[]).size).toBe(3);
    expect(spec.instance_properties).toMatchObject({ uuid: (spec.instance_uuids as string[])[0], hostname: 'vm' });
    // one query a round for all of them
    expect(h.instanceQueries).toEqual([undefined]);
  });

  it("one instance's failure does not stop the others being followed; the boot fails naming it", async () => {
    // The second instance's ERROR notification, heard as the scheduler answers the cast; the
    // first one goes on to active a few polls later.
    const lines: string[] = [];
    const h: ReturnType<typeof harness> = harness({
      states: (polls) => (polls < 4 ? 'building' : 'active'),
      onCast: (uuids) => h.notify(noValidHost(uuids[1], 'No valid host was found.')),
      progress: (l) => lines.push(l),
    });
    const failed = await h.boot.runAll({ ...request, count: 2 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BootFailed);
    const [first, second] = h.casts[0].request_spec.instance_uuids as string[];
    expect((failed as Error).message).toBe(
      `1 of 2 failed: instance ${second} (vm-2): NoValidHost: No valid host was found.`,
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        `instance ${second} (vm-2): failed: NoValidHost: No valid host was found.`,
        `instance ${first} (vm-1): node node-0 on cn1: active`,
      ]),
    );
  });

  it('a failure and an instance still short of --wait-for at the timeout: both named', async () => {
    const h: ReturnType<typeof harness> = harness({
      states: () => 'prepared',
      onCast: (uuids) => h.notify(noValidHost(uuids[0], 'none')),
    });
    const e = await h.boot.runAll({ ...request, count: 2, timeoutS: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BootFailed);
    expect((e as Error).message).toMatch(
      /^1 of 2 failed: instance \S+ \(vm-1\): NoValidHost: none; instance \S+ \(vm-2\): not active after 1 s \(now prepared\)$/,
    );
  });

  it('one instance that fails: its failure alone', async () => {
    const h: ReturnType<typeof harness> = harness({
      states: () => 'building',
      onCast: (uuids) => h.notify(noValidHost(uuids[0], 'none')),
    });
    const e = await h.boot.run(request).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/^instance \S+ \(vm\): NoValidHost: none$/);
  });

  it('times out naming each instance not there yet', async () => {
    const h = harness({ states: () => 'prepared' });
    const e = await h.boot.runAll({ ...request, count: 2, timeoutS: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BootTimedOut);
    expect((e as Error).message).toMatch(/\(vm-1\): not active after 1 s \(now prepared\); .*\(vm-2\): not active/);
  });

  it('--no-wait: the request only, its uuids and names; nothing listened to, no row read', async () => {
    const h = harness();
    const sent = await h.boot.request({ name: 'vm', flavor: 'lab.sim', image: IMAGE, count: 2 });
    expect(h.casts).toHaveLength(1);
    expect(sent).toEqual(
      (h.casts[0].request_spec.instance_uuids as string[]).map((instance, i) => ({ instance, name: `vm-${i + 1}` })),
    );
    expect(h.listens()).toBe(0);
    expect(h.instanceQueries).toEqual([]);
  });

  it('refuses a count that is not a positive integer', async () => {
    await expect(harness().boot.runAll({ ...request, count: 0 })).rejects.toThrow(RangeError);
  });
});
