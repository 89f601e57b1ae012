import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../../../test/support/amqp';
import { type NovaRun, novaCompute, novaImageMeta } from '../../../test/support/nova';
import { type Stack, type StackImages, type StackNode, startStack } from '../../../test/support/stack';

// A real Nova (Debian's python3-nova, Zed 26.2.2) drives our compute service with its own RPC
// client, nova.compute.rpcapi.ComputeAPI, and real nova.objects (test/peers/nova-compute/
// nova_compute.py: Nova configured in-process, [upgrade_levels] compute pinned so that no Nova
// database is needed), against the whole built stack of test/support/stack.ts: two simulated
// nodes (apps/lab-nodes) that PXE-boot, run the deploy ramdisk and boot what was written to their
// disks, with power, netboot, the deploy helper, images and compute.
//
//   build_and_run_instance as the conductor casts it (13 arguments, an Instance with its Flavor,
//     a RequestSpec, Selections…), from a client pinned at 6.0 and one at zed (6.1): both active;
//   reboot (cast), stop (call), start (cast); diagnostics refused while the node is off;
//   get_console_output (ConsoleNotAvailable without a log, the tail of the log where one is),
//     get_diagnostics (a dict), get_instance_diagnostics (a Diagnostics object), get_host_uptime;
//   rebuild_instance 6.1 with a new image_ref: redeployed, the new image on the disk;
//   terminate_instance: the nodes off and free.
//
// The versions are the ones Nova's client sends for its pin, never read from our contracts: a
// change of what compute serves fails here as it would fail Nova.
const HOST = 'cn-nova';
const A: StackNode = { name: 'nova-a', mac: '52:54:00:84:00:01', memory: 512 };
const B: StackNode = { name: 'nova-b', mac: '52:54:00:84:00:02', memory: 768 };
const INSTANCE = { [A.name]: '0a7e1f52-5c1d-4c6e-9d3a-6b1f0e2a0a01', [B.name]: '0a7e1f52-5c1d-4c6e-9d3a-6b1f0e2a0a02' };
const MARKERS = { 'nova-image-1': 'first image\n', 'nova-image-2': 'rebuilt image\n' };
/** Bounded wait: a node placed but not yet active (a Python process: test/support/nova.ts). */
const ACTIVE_MS = 150_000;

jest.setTimeout(300_000);

describe("compute driven by Nova's own compute RPC client (python3-nova Zed)", () => {
  let stack: Stack;
  let images: StackImages;
  /** Glance's image dict as Nova's API reads it, by image name. */
  const glance: Record<string, Record<string, unknown>> = {};
  /** The image each instance runs (rebuild changes it). */
  const running: Record<string, string> = {};

  /** Nova's flavor of `n`'s shape: the deploy pair in its extra specs, as an operator sets them. */
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
  /** One nova_compute.py run: the ops in order on `n`'s instance, from a client pinned at `pin`. */
  const nova = (pin: string, n: StackNode, ops: Record<string, unknown>[]) =>
    novaCompute({
      url: stack.transportUrl,
      exchange: stack.site.exchange,
      pin,
      host: HOST,
      timeout: 30,
      instance: { uuid: INSTANCE[n.name], name: `vm-${n.name}`, node: stack.nodeUuids[n.name], flavor: flavorOf(n) },
      image: glance[running[n.name]],
      ops,
    });
  const only = (r: NovaRun) => {
    expect(r.results).toHaveLength(1);
    return r.results[0];
  };
  const states = async (n: StackNode) =>
    (await stack.timeline(n)).filter((e) => e.kind === 'state').map((e) => `${e.source} ${e.detail}`);

  /**
   * Waits until `n` carries `instance` active with `image`: bounded, and failing at once when the
   * node is released (a failed deploy), with every process's log.
   */
  const activeWith = async (n: StackNode, image: string) => {
    const started = Date.now();
    for (;;) {
      const row = await stack.rowOf(n);
      if (row.instance_uuid === INSTANCE[n.name] && row.task_state === 'active' && row.image_path === image) return;
      if (row.instance_uuid !== INSTANCE[n.name] && Date.now() - started > 30_000)
        throw new Error(`${n.name} does not carry ${INSTANCE[n.name]} (${row.task_state}):\n${stack.logs(n)}`);
      if (row.task_state === 'error' || Date.now() - started > ACTIVE_MS)
        throw new Error(`${n.name} not active with ${image} (${row.task_state}):\n${stack.logs(n)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  /** Waits until `n` has booted its instance for the `times`th time (lab-nodes' booted-instance phases). */
  const bootedInstance = (n: StackNode, times: number) =>
    eventually(
      () => {
        expect(stack.fleet.phases(n.name).filter((p) => p.phase === 'booted-instance')).toHaveLength(times);
        expect(stack.lastPhase(n)).toMatchObject({ phase: 'booted-instance', power: 'on' });
      },
      30_000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${n.name} did not boot its instance (time ${times}): ${e.message}\n${stack.logs(n)}`);
    });

  beforeAll(async () => {
    stack = await startStack({
      name: 'novac',
      host: HOST,
      nodes: [A, B],
      subnet: '10.84.0',
      bmcPassword: 'bmc-Nova-26',
      deployTimeoutS: 60,
    });
    images = await stack.uploadImages(MARKERS);
    for (const [name, id] of Object.entries(images.images)) {
      glance[name] = novaImageMeta(await stack.images.glance.show(id));
    }
    running[A.name] = running[B.name] = 'nova-image-1';
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('build_and_run_instance as the conductor casts it, pinned at 6.0 and at zed (6.1): both nodes active', async () => {
    const [a, b] = await Promise.all([
      nova('6.0', A, [{ op: 'build_and_run_instance' }]),
      nova('zed', B, [{ op: 'build_and_run_instance' }]),
    ]);
    for (const [n, r] of [
      [A, a],
      [B, b],
    ] as const) {
      expect(only(r)).toMatchObject({ op: 'build_and_run_instance', ok: true });
      // What went out: Nova's cast at 6.0 whatever the pin, with every argument 6.0 has.
      expect(r.sent).toHaveLength(1);
      const sent = r.sent[0];
      expect(sent).toMatchObject({ method: 'build_and_run_instance', version: '6.0', server: HOST });
      expect(Object.keys(sent.args).sort()).toEqual(
        [
          'instance',
          'image',
          'request_spec',
          'filter_properties',
          'admin_password',
          'injected_files',
          'requested_networks',
          'security_groups',
          'block_device_mapping',
          'node',
          'limits',
          'host_list',
          'accel_uuids',
        ].sort(),
      );
      expect(sent.args.instance).toMatchObject({ 'nova_object.name': 'Instance' });
      expect(sent.args.request_spec).toMatchObject({ 'nova_object.name': 'RequestSpec' });
      expect(sent.args.node).toBe(stack.nodeUuids[n.name]);
      expect(sent.bytes).toBeGreaterThan(10_000);
    }
    await Promise.all([activeWith(A, images.images['nova-image-1']), activeWith(B, images.images['nova-image-1'])]);
    for (const n of [A, B]) {
      await bootedInstance(n, 1);
      expect(await stack.diskMarker(n)).toBe(MARKERS['nova-image-1']);
      expect(await states(n)).toEqual([
        'compute building (associate)',
        'compute prepared (prepared)',
        'deploy-helper deploying (deploy_started)',
        'deploy-helper deploy complete (deploy_done)',
        'compute active (activated)',
      ]);
    }
    // The deploy pair came from the flavor's extra specs inside the Instance (compute has none configured).
    const files = stack.fleet
      .phases(A.name)
      .at(-1)!
      .files.map((f) => f.name);
    expect(files).toContain(join(stack.tftpRoot, INSTANCE[A.name], 'deploy_kernel'));
  });

  it('reboot_instance (cast), stop_instance (call), start_instance (cast); diagnostics refused while off', async () => {
    const reboot = await nova('zed', A, [{ op: 'reboot_instance', reboot_type: 'SOFT' }]);
    expect(only(reboot)).toMatchObject({ ok: true, result: null });
    expect(reboot.sent[0]).toMatchObject({ method: 'reboot_instance', version: '6.0' });
    await bootedInstance(A, 2);
    const rebooted = (await stack.timeline(A)).filter((e) => e.kind === 'power.reboot');
    expect(rebooted.at(-1)?.detail).toMatch(/: node is on$/);

    const stopped = await nova('zed', A, [
      { op: 'stop_instance', do_cast: false },
      { op: 'get_diagnostics' },
      { op: 'get_instance_diagnostics' },
    ]);
    expect(stopped.results[0]).toMatchObject({ op: 'stop_instance', ok: true });
    expect(stopped.sent[0]).toMatchObject({ method: 'stop_instance', version: '6.0' });
    expect(Object.keys(stopped.sent[0].args).sort()).toEqual(['clean_shutdown', 'instance']);
    expect(stack.lastPhase(A)).toMatchObject({ phase: 'off', power: 'off' });
    // Nova's manager refuses diagnostics of an instance that is not running, and so do we.
    for (const r of stopped.results.slice(1))
      expect(r).toMatchObject({
        ok: false,
        error: {
          class: 'InstanceInvalidState',
          module: 'nova.exception',
          remote: true,
          message: `Instance ${INSTANCE[A.name]} in power state shutdown. Cannot get_diagnostics while the instance is in this state.`,
        },
      });

    const started = await nova('zed', A, [{ op: 'start_instance' }]);
    expect(only(started)).toMatchObject({ ok: true, result: null });
    await bootedInstance(A, 3);
    // Power only: the node stays active with its instance.
    expect(await stack.rowOf(A)).toMatchObject({ task_state: 'active', instance_uuid: INSTANCE[A.name] });
  });

  it('get_console_output, get_diagnostics, get_instance_diagnostics, get_host_uptime as Nova reads them', async () => {
    // B has a console log where Nova's libvirt driver keeps one; A has none.
    const instances = stack.instancesPath;
    const log = Array.from({ length: 20 }, (_, i) => `console line ${i + 1}`).join('\n') + '\n';
    await mkdir(join(instances, INSTANCE[B.name]), { recursive: true });
    await writeFile(join(instances, INSTANCE[B.name], 'console.log'), log);
    expect(existsSync(join(instances, INSTANCE[A.name]))).toBe(false);

    const [a, b] = await Promise.all([
      nova('zed', A, [
        { op: 'get_console_output', tail_length: 5 },
        { op: 'get_diagnostics' },
        { op: 'get_instance_diagnostics' },
        { op: 'get_host_uptime' },
      ]),
      nova('6.0', B, [{ op: 'get_console_output', tail_length: 3 }]),
    ]);
    expect(a.sent.map((s) => `${s.method} ${s.version}`)).toEqual([
      'get_console_output 6.0',
      'get_diagnostics 6.0',
      'get_instance_diagnostics 6.0',
      'get_host_uptime 6.0',
    ]);
    const [consoleA, diagnostics, instanceDiagnostics, uptime] = a.results;
    expect(consoleA).toMatchObject({
      ok: false,
      error: {
        class: 'ConsoleNotAvailable',
        module: 'nova.exception',
        remote: true,
        message: 'Guest does not have a console available.',
      },
    });
    // Nova's manager cuts the last tail_length lines: the log ends with a newline, so the last is ''.
    expect(only(b)).toMatchObject({ ok: true, type: 'str', result: 'console line 19\nconsole line 20\n' });

    expect(diagnostics).toMatchObject({ ok: true, type: 'dict' });
    expect(diagnostics.result).toEqual({
      state: 'running',
      driver: 'baremetal',
      hypervisor: 'baremetal',
      node: stack.nodeUuids[A.name],
      uptime: expect.any(Number),
      num_cpus: 1,
      memory_mb: A.memory,
      mac_addresses: [A.mac],
    });
    // Since the start above, not since the first boot.
    expect((diagnostics.result as { uptime: number }).uptime).toBeLessThan(120);

    // Nova's serializer made the primitive a nova.objects.diagnostics.Diagnostics.
    expect(instanceDiagnostics).toMatchObject({ ok: true, type: 'Diagnostics' });
    expect(instanceDiagnostics.result).toEqual({
      state: 'running',
      driver: 'ironic',
      hypervisor: 'baremetal',
      hypervisor_os: null,
      uptime: expect.any(Number),
      config_drive: false,
      memory_details: { maximum: A.memory, used: null },
      cpu_details: [{ id: 0, time: null, utilisation: null }],
      nic_details: [expect.objectContaining({ mac_address: A.mac, rx_octets: null })],
      disk_details: [expect.objectContaining({ read_bytes: null })],
      num_cpus: 1,
      num_nics: 1,
      num_disks: 1,
    });

    expect(uptime).toMatchObject({ ok: true, type: 'str' });
    expect(uptime.result).toMatch(
      /^ \d\d:\d\d:\d\d up (\d+ days?, )?(\d+ min|[ \d]\d:\d\d), +\d+ users?, +load average: \d+\.\d\d, \d+\.\d\d, \d+\.\d\d\n$/,
    );
  });

  it('rebuild_instance 6.1 with a new image_ref: the node redeployed and active, the new image on its disk', async () => {
    const image2 = images.images['nova-image-2'];
    const r = await nova('zed', B, [{ op: 'rebuild_instance', image: glance['nova-image-2'] }]);
    expect(only(r)).toMatchObject({ ok: true });
    expect(r.sent[0]).toMatchObject({ method: 'rebuild_instance', version: '6.1', server: HOST });
    expect(r.sent[0].args).toMatchObject({
      image_ref: image2,
      orig_image_ref: images.images['nova-image-1'],
      reimage_boot_volume: false,
      recreate: false,
      scheduled_node: stack.nodeUuids[B.name],
      request_spec: { 'nova_object.name': 'RequestSpec' },
    });
    running[B.name] = 'nova-image-2';
    await activeWith(B, image2);
    await bootedInstance(B, 2);
    expect(await stack.diskMarker(B)).toBe(MARKERS['nova-image-2']);
    expect((await states(B)).slice(5)).toEqual([
      'compute building (rebuild)',
      'compute prepared (prepared)',
      'deploy-helper deploying (deploy_started)',
      'deploy-helper deploy complete (deploy_done)',
      'compute active (activated)',
    ]);
  });

  it('terminate_instance: both nodes off and free, their PXE files gone', async () => {
    const done = await Promise.all([
      nova('zed', A, [{ op: 'terminate_instance' }]),
      nova('6.0', B, [{ op: 'terminate_instance' }]),
    ]);
    for (const r of done) {
      expect(only(r)).toMatchObject({ ok: true });
      expect(r.sent[0]).toMatchObject({ method: 'terminate_instance', version: '6.0' });
    }
    for (const n of [A, B]) {
      await eventually(
        async () => expect(await stack.rowOf(n)).toMatchObject({ instance_uuid: null, deploy_key: null }),
        30_000,
        250,
      ).catch((e: Error) => {
        throw new Error(`${n.name} not freed: ${e.message}\n${stack.logs(n)}`);
      });
      await eventually(() => expect(stack.lastPhase(n)).toMatchObject({ phase: 'off', power: 'off' }), 10_000, 100);
      expect(existsSync(join(stack.tftpRoot, INSTANCE[n.name]))).toBe(false);
      expect(existsSync(join(stack.tftpRoot, 'pxelinux.cfg', `01-${n.mac.replace(/:/g, '-')}`))).toBe(false);
    }
  });

  it('compute refused nothing Nova sent: no unknown argument, no unknown method', () => {
    const compute = stack.services.find(([name]) => name === 'compute')![1].output();
    expect(compute).not.toMatch(/InvalidRpcArguments|is not a known field|NoSuchMethod|UnsupportedVersion/);
  });
});
