import { eventually, privateVhost, uniqueName } from '../../../test/support/amqp';
import {
  type NovaConductor,
  type NovaRun,
  novaCompute,
  novaImageMeta,
  startNovaConductor,
} from '../../../test/support/nova';
import { type Stack, type StackImages, type StackNode, startStack } from '../../../test/support/stack';

// A real Nova conductor and Nova's own RPC clients drive a bare-metal instance through our
// services, and Nova's database shows each outcome. On the stack of test/support/stack.ts (four
// simulated nodes, power, netboot, the deploy helper, images, compute with
// `[baremetal] nova_conductor` and a report_interval of 1 s), Debian's real nova-conductor (Zed)
// serves the same vhost and exchange on its own Nova cell and API databases
// (test/support/nova.ts). Nova's API side is Nova's own code with direct database access
// (test/peers/nova-compute/nova_compute.py with the conductor's nova.conf): it creates the
// instance (flavor, instance, block device mapping) as Nova's API and conductor do, reads it from
// Nova's database before each action as Nova's API reads it, writes the task_state Nova's API
// writes (with its expected_task_state and state checks) and sends the action with Nova's
// ComputeAPI (pinned at zed). Compute writes back through the conductor, and the test reads
// Nova's `instances`, `instance_faults` and `services` tables:
//
//   services: our host's nova-compute record created through the conductor, report_count
//     growing, up for Nova's servicegroup API (Nova's API deletes locally when it is not);
//   build_and_run_instance of an instance in vm_state building / task_state scheduling: active,
//     task_state NULL, power_state 1, host and node ours, launched_at set;
//   stop (powering-off → stopped, 4), start (powering-on → active, 1), soft reboot (rebooting)
//     and hard reboot (rebooting_hard) → task_state NULL, active, 1;
//   rebuild with a new image (rebuilding → active, the new image_ref, a new launched_at);
//   a build whose deploy ramdisk never calls back (nodes B and D):
//     with no retry ([scheduler] max_attempts 1) an instance fault, vm_state error and, as
//     nova-compute leaves it, no host or node;
//     with an alternate (node C) it goes back to the real conductor (compute_task
//     build_instances), which sends build_and_run_instance for C (the alternate carries no
//     allocation request: there is no Placement here) and the instance ends active on C;
//   terminate (deleting → vm_state deleted, terminated_at, the row destroyed: deleted != 0),
//     every node off and free.
//
// Each action is accepted by Nova's API only from the state the previous one left (its
// check_instance_state and expected_task_state), so a state compute fails to write fails the
// next step too.
const HOST = 'cn-novadb';
const A: StackNode = { name: 'ncd-a', mac: '52:54:00:85:00:01', memory: 512 };
/** Their deploy ramdisks never call back: a build fails at compute's deploy deadline. */
const B: StackNode = { name: 'ncd-b', mac: '52:54:00:85:00:02', memory: 768, callback: 'never' };
const D: StackNode = { name: 'ncd-d', mac: '52:54:00:85:00:04', memory: 640, callback: 'never' };
/** B's alternate. */
const C: StackNode = { name: 'ncd-c', mac: '52:54:00:85:00:03', memory: 768 };
/** The instance built on each node first (B's goes to C). */
const INSTANCE: Record<string, string> = {
  [A.name]: '3c1d7e0a-2b4f-4e8a-9f61-5d0c1b2a0a01',
  [B.name]: '3c1d7e0a-2b4f-4e8a-9f61-5d0c1b2a0a02',
  [D.name]: '3c1d7e0a-2b4f-4e8a-9f61-5d0c1b2a0a04',
};
const MARKERS = { 'ncd-image-1': 'first image\n', 'ncd-image-2': 'rebuilt image\n' };
const DEPLOY_TIMEOUT_S = 40;
/** Bounded wait: an action's outcome in Nova's row (a build or rebuild deploys). */
const OUTCOME_MS = 120_000;

jest.setTimeout(300_000);

/** Nova's `instances` row as the test reads it (timestamps as text: Nova keeps naive UTC). */
interface NovaRow {
  vm_state: string;
  task_state: string | null;
  power_state: number | null;
  host: string | null;
  node: string | null;
  image_ref: string | null;
  launched_at: string | null;
  terminated_at: string | null;
  deleted: number;
}

describe("a real Nova conductor and Nova's own RPC clients drive a bare-metal instance; Nova's database shows each outcome", () => {
  let vhost: Awaited<ReturnType<typeof privateVhost>> | undefined;
  let nova: NovaConductor | undefined;
  let stack: Stack;
  let images: StackImages;
  const exchange = uniqueName('novacd');
  /** Glance's image dict as Nova's API reads it, by image name. */
  const glance: Record<string, Record<string, unknown>> = {};

  const flavorOf = (n: StackNode) => ({
    name: `bm.${n.name}`,
    flavorid: `bm-${n.name}`,
    memory_mb: n.memory,
    vcpus: 1,
    root_gb: 1,
    ephemeral_gb: 1,
    swap: 0,
    extra_specs: {
      cpu_arch: 'x86_64',
      'baremetal:deploy_kernel_id': images.deployKernel,
      'baremetal:deploy_ramdisk_id': images.deployRamdisk,
    },
  });
  /** Nova's API side on Nova's database: the ops in order on `n`'s instance, from a client pinned at zed. */
  const api = (n: StackNode, ops: Record<string, unknown>[], image = 'ncd-image-1') =>
    novaCompute({
      url: stack.transportUrl,
      exchange,
      pin: 'zed',
      host: HOST,
      timeout: 30,
      conf: nova!.conf,
      instance: { uuid: INSTANCE[n.name], name: `vm-${n.name}`, node: stack.nodeUuids[n.name], flavor: flavorOf(n) },
      image: glance[image],
      ops,
    });
  /** One op that Nova's API side ran and sent: its result. */
  const sentOne = (r: NovaRun, method: string, version = '6.0') => {
    expect(r.results).toHaveLength(1);
    if (!r.results[0].ok) throw new Error(`${method}: ${JSON.stringify(r.results[0].error)}`);
    expect(r.sent.map((s) => [s.method, s.version, s.server])).toEqual([[method, version, HOST]]);
    return r.results[0];
  };

  const novaRow = async (n: StackNode) =>
    (
      await nova!.query<NovaRow>(
        `SELECT vm_state, task_state, power_state, host, node, image_ref, deleted,
                to_char(launched_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS launched_at,
                to_char(terminated_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS terminated_at
           FROM instances WHERE uuid = $1`,
        [INSTANCE[n.name]],
      )
    ).map((r) => ({ ...r, deleted: Number(r.deleted) }))[0];
  const faults = (n: StackNode) =>
    nova!.query<{ code: number; message: string; host: string }>(
      'SELECT code, message, host FROM instance_faults WHERE instance_uuid = $1 ORDER BY id',
      [INSTANCE[n.name]],
    );
  const service = async () =>
    (
      await nova!.query<{
        host: string;
        binary: string;
        topic: string;
        report_count: number;
        version: number;
        deleted: number;
      }>(`SELECT host, "binary", topic, report_count, version, deleted FROM services WHERE host = $1`, [HOST])
    ).map((r) => ({ ...r, deleted: Number(r.deleted) }));
  const tail = (text: string, lines = 40) => text.split('\n').slice(-lines).join('\n');
  /** Everything that says why an outcome did not come: Nova's row and faults, every log. */
  const why = async (n: StackNode) =>
    `Nova's row: ${JSON.stringify(await novaRow(n))}\nfaults: ${JSON.stringify(await faults(n))}\n` +
    `our node: ${JSON.stringify(await stack.rowOf(n))}\n${stack.logs(n)}\n--- nova-conductor\n${tail(nova!.output())}`;

  /**
   * Waits (bounded) until Nova's row of `n`'s instance matches `want`; fails at once when it went
   * to vm_state error unasked, with every log.
   */
  const novaShows = async (n: StackNode, want: Partial<NovaRow>, timeoutMs = OUTCOME_MS) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const row = await novaRow(n);
      if (row && Object.entries(want).every(([k, v]) => row[k as keyof NovaRow] === v)) return row;
      if ((row?.vm_state === 'error' && want.vm_state !== 'error') || Date.now() > until)
        throw new Error(`${n.name}: Nova's row is not ${JSON.stringify(want)}\n${await why(n)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const bootedInstance = (n: StackNode, times: number) =>
    eventually(
      () => {
        expect(stack.fleet.phases(n.name).filter((p) => p.phase === 'booted-instance')).toHaveLength(times);
        expect(stack.lastPhase(n)).toMatchObject({ phase: 'booted-instance', power: 'on' });
      },
      30_000,
      100,
    ).catch(async (e: Error) => {
      throw new Error(`${n.name} did not boot its instance (time ${times}): ${e.message}\n${await why(n)}`);
    });
  const running = { vm_state: 'active', task_state: null, power_state: 1, host: HOST, deleted: 0 };

  beforeAll(async () => {
    vhost = await privateVhost('novacd');
    const v = vhost;
    // The conductor migrates its databases while the stack comes up: compute's reports fail (and
    // are retried every second) until it consumes.
    const [conductor, started] = await Promise.allSettled([
      startNovaConductor({ transportUrl: v.transportUrl, vhost: v.name, exchange }),
      startStack({
        name: 'novacd',
        host: HOST,
        nodes: [A, B, C, D],
        subnet: '10.85.0',
        bmcPassword: 'bmc-Nova-27',
        deployTimeoutS: DEPLOY_TIMEOUT_S,
        vhost: v,
        exchange,
        computeEnv: { BM_NOVA_CONDUCTOR: 'true', BM_REPORT_INTERVAL: '1' },
      }),
    ]);
    if (conductor.status === 'fulfilled') nova = conductor.value;
    if (started.status === 'fulfilled') stack = started.value;
    if (conductor.status === 'rejected') throw conductor.reason;
    if (started.status === 'rejected') throw started.reason;
    images = await stack.uploadImages(MARKERS);
    for (const [name, id] of Object.entries(images.images)) {
      glance[name] = novaImageMeta(await stack.images.glance.show(id));
    }
  }, 240_000);

  afterAll(async () => {
    try {
      await stack?.stop();
    } finally {
      try {
        await nova?.stop();
      } finally {
        await vhost?.drop();
      }
    }
  });

  it("compute's nova-compute record in Nova's services table: created through the conductor, report_count growing, up for Nova", async () => {
    const first = await eventually(
      async () => {
        const rows = await service();
        expect(rows).toEqual([
          {
            host: HOST,
            binary: 'nova-compute',
            topic: 'compute',
            report_count: expect.any(Number),
            version: 64,
            deleted: 0,
          },
        ]);
        return rows[0];
      },
      30_000,
      250,
    ).catch(async (e: Error) => {
      throw new Error(`no services record: ${e.message}\n${stack.logs()}\n--- nova-conductor\n${tail(nova!.output())}`);
    });
    // Every second (BM_REPORT_INTERVAL=1).
    await eventually(
      async () => expect((await service())[0].report_count).toBeGreaterThanOrEqual(first.report_count + 3),
      15_000,
      250,
    );
    const up = await api(A, [{ op: 'service_is_up' }]);
    expect(up.results).toEqual([
      { op: 'service_is_up', ok: true, type: 'dict', result: { up: true, report_count: expect.any(Number) } },
    ]);
    expect(up.sent).toEqual([]);
  });

  it("build_and_run_instance of instances created by Nova's own code: Nova's row active on our host and node, launched", async () => {
    for (const n of [A, B, D]) {
      const made = await api(n, [{ op: 'create_instance' }]);
      expect(made.results).toEqual([
        {
          op: 'create_instance',
          ok: true,
          type: 'dict',
          result: { uuid: INSTANCE[n.name], id: expect.any(Number), flavor_id: expect.any(Number) },
        },
      ]);
      expect(await novaRow(n)).toMatchObject({
        vm_state: 'building',
        task_state: 'scheduling',
        power_state: 0,
        host: null,
        node: null,
        image_ref: images.images['ncd-image-1'],
        launched_at: null,
      });
    }
    const built = await Promise.all([
      api(A, [{ op: 'build_and_run_instance' }]),
      // Failing on B, it goes back to Nova's conductor with its alternate, C (from a scheduler
      // without Placement: Nova's conductor takes it without claiming, there is no Placement here).
      api(B, [{ op: 'build_and_run_instance', alternates: [stack.nodeUuids[C.name]], claims: false }]),
      // No reschedule ([scheduler] max_attempts = 1): a failure is the build's end.
      api(D, [{ op: 'build_and_run_instance', max_attempts: 1 }]),
    ]);
    for (const [i, n] of [A, B, D].entries()) {
      sentOne(built[i], 'build_and_run_instance');
      const sent = built[i].sent[0].args;
      // The instance as Nova's database holds it: no host yet, task_state scheduling.
      expect(sent.instance).toMatchObject({
        'nova_object.name': 'Instance',
        'nova_object.data': { uuid: INSTANCE[n.name], host: null, vm_state: 'building', task_state: 'scheduling' },
      });
      expect(sent.node).toBe(stack.nodeUuids[n.name]);
    }
    expect(built[1].sent[0].args.host_list).toEqual([
      expect.objectContaining({ 'nova_object.data': expect.objectContaining({ nodename: stack.nodeUuids[C.name] }) }),
    ]);
    expect(built[2].sent[0].args).toMatchObject({
      host_list: [],
      filter_properties: expect.not.objectContaining({ retry: expect.anything() }),
    });

    const row = await novaShows(A, { ...running, node: stack.nodeUuids[A.name] });
    expect(row.image_ref).toBe(images.images['ncd-image-1']);
    expect(row.launched_at).not.toBeNull();
    expect(await stack.rowOf(A)).toMatchObject({
      task_state: 'active',
      instance_uuid: INSTANCE[A.name],
      image_path: images.images['ncd-image-1'],
    });
    await bootedInstance(A, 1);
    expect(await stack.diskMarker(A)).toBe(MARKERS['ncd-image-1']);
    expect(await faults(A)).toEqual([]);
  });

  it('stop (powering-off → stopped, SHUTDOWN), then start (powering-on → active, RUNNING)', async () => {
    sentOne(await api(A, [{ op: 'stop_instance' }]), 'stop_instance');
    await novaShows(A, { vm_state: 'stopped', task_state: null, power_state: 4, host: HOST });
    await eventually(() => expect(stack.lastPhase(A)).toMatchObject({ phase: 'off', power: 'off' }), 10_000, 100);

    sentOne(await api(A, [{ op: 'start_instance' }]), 'start_instance');
    await novaShows(A, running);
    await bootedInstance(A, 2);
    expect(await stack.rowOf(A)).toMatchObject({ task_state: 'active', instance_uuid: INSTANCE[A.name] });
  });

  it('reboot, soft (rebooting) and hard (rebooting_hard): task_state NULL again, active, RUNNING', async () => {
    sentOne(await api(A, [{ op: 'reboot_instance', reboot_type: 'SOFT' }]), 'reboot_instance');
    await novaShows(A, running);
    await bootedInstance(A, 3);

    sentOne(await api(A, [{ op: 'reboot_instance', reboot_type: 'HARD' }]), 'reboot_instance');
    await novaShows(A, running);
    await bootedInstance(A, 4);
  });

  it('rebuild with a new image (rebuilding): redeployed, active with the new image_ref and a new launched_at', async () => {
    const before = (await novaRow(A)).launched_at!;
    const r = await api(A, [{ op: 'rebuild_instance', image: glance['ncd-image-2'] }]);
    sentOne(r, 'rebuild_instance', '6.1');
    expect(r.sent[0].args).toMatchObject({
      image_ref: images.images['ncd-image-2'],
      orig_image_ref: images.images['ncd-image-1'],
      instance: { 'nova_object.data': { task_state: 'rebuilding', image_ref: images.images['ncd-image-2'] } },
    });
    const row = await novaShows(A, { ...running, image_ref: images.images['ncd-image-2'] });
    expect(row.launched_at! > before).toBe(true);
    expect(await stack.rowOf(A)).toMatchObject({ task_state: 'active', image_path: images.images['ncd-image-2'] });
    await bootedInstance(A, 5);
    expect(await stack.diskMarker(A)).toBe(MARKERS['ncd-image-2']);
  });

  it('a failed build with no retry (max_attempts 1): an instance fault, vm_state error, no host or node in Nova; the node freed', async () => {
    const row = await novaShows(D, { vm_state: 'error' }, (DEPLOY_TIMEOUT_S + 60) * 1000);
    // As nova-compute leaves a build that failed for good (_nil_out_instance_obj_host_and_node,
    // _set_instance_obj_error_state with clean_task_state).
    expect(row).toMatchObject({ vm_state: 'error', task_state: null, host: null, node: null, launched_at: null });
    expect(await faults(D)).toEqual([
      {
        code: 500,
        message: expect.stringContaining(
          `Timeout reached while waiting for PXE deploy of instance ${INSTANCE[D.name]}`,
        ),
        host: HOST,
      },
    ]);
    await eventually(
      async () => expect(await stack.rowOf(D)).toMatchObject({ instance_uuid: null }),
      30_000,
      250,
    ).catch(async (e: Error) => {
      throw new Error(`${D.name} not freed: ${e.message}\n${await why(D)}`);
    });
  });

  it("a failed build with an alternate goes back to Nova's conductor, which sends it to the alternate: active on the other node", async () => {
    const row = await novaShows(B, { ...running, node: stack.nodeUuids[C.name] }, (DEPLOY_TIMEOUT_S + 120) * 1000);
    expect(row.launched_at).not.toBeNull();
    // nova-compute records no fault for a build it reschedules.
    expect(await faults(B)).toEqual([]);
    expect(await stack.rowOf(C)).toMatchObject({ task_state: 'active', instance_uuid: INSTANCE[B.name] });
    expect(await stack.rowOf(B)).toMatchObject({ instance_uuid: null });
    await bootedInstance(C, 1);
    expect(await stack.diskMarker(C)).toBe(MARKERS['ncd-image-1']);
  });

  it("terminate (deleting): Nova's rows deleted and destroyed, terminated_at set; every node off and free", async () => {
    const done = await Promise.all([
      api(A, [{ op: 'terminate_instance' }], 'ncd-image-2'),
      api(B, [{ op: 'terminate_instance' }]),
    ]);
    for (const r of done) sentOne(r, 'terminate_instance');
    for (const n of [A, B]) {
      const row = await novaShows(n, { vm_state: 'deleted', task_state: null });
      expect(row.terminated_at).not.toBeNull();
      await eventually(async () => expect((await novaRow(n)).deleted).not.toBe(0), 10_000, 250).catch(
        async (e: Error) => {
          throw new Error(`Nova's row not destroyed: ${e.message}\n${await why(n)}`);
        },
      );
    }
    for (const n of [A, B, C, D]) {
      await eventually(
        async () => expect(await stack.rowOf(n)).toMatchObject({ instance_uuid: null, deploy_key: null }),
        30_000,
        250,
      ).catch(async (e: Error) => {
        throw new Error(`${n.name} not freed: ${e.message}\n${await why(n)}`);
      });
      await eventually(() => expect(stack.lastPhase(n)).toMatchObject({ power: 'off' }), 10_000, 100);
    }
    expect(await faults(A)).toEqual([]);
  });

  it("Nova refused none of compute's writes; compute still reports", async () => {
    const compute = stack.services.find(([name]) => name === 'compute')![1].output();
    expect(compute).not.toMatch(/Nova's instance not updated|could not say so|UnexpectedTaskState|InstanceNotFound/);
    // Nova's conductor took every call: no refused object action, no failed reschedule.
    expect(nova!.output()).not.toMatch(
      /UnexpectedTaskStateError|ObjectActionError|Setting instance to ERROR|Failed to compute_task_build_instances|Exception during message handling/,
    );
    const now = (await service())[0].report_count;
    await eventually(async () => expect((await service())[0].report_count).toBeGreaterThan(now), 10_000, 250);
  });
});
