/**
 * A real Nova drives our scheduler: Debian's python3-nova (Zed) calls select_destinations with
 * its own client, nova.scheduler.rpcapi.SchedulerAPI, and real nova.objects (a RequestSpec in,
 * Selection objects or host dicts out), pinned by `[upgrade_levels] scheduler` to each version
 * its scheduler RPC API has had: 4.0 (legacy dicts; 4.1 and 4.2 still send it), 4.3 (spec_obj),
 * 4.4 (+ instance_uuids), 4.5 (+ return_objects, return_alternates). No Nova database: the
 * client needs none once the version is pinned.
 *
 * Our side is the built services on the real broker and database: two compute hosts report the
 * nodes enrolled on them (as scheduling.e2e.spec.ts does), the scheduler places Nova's requests.
 * The Python side is test/peers/nova/scheduler_client.py, one process for the file, fed JSON
 * lines on stdin (the broker URL included: nothing on its command line).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EnrollmentService } from '@bm/enrollment';
import type { RemoteError, RpcClient } from '@bm/messaging';
import { TEST_AMQP_URL, type TestBus, eventually, openBus, uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

const PYTHON = '/usr/bin/python3';
const CLIENT = join(__dirname, '../../../test/peers/nova/scheduler_client.py');
/** What one Nova call may take, in Python (its rpc timeouts) and here (a little more). */
const CALL_S = 10;
const HOST_A = 'cn-nova-a';
const HOST_B = 'cn-nova-b';

// --- the Python side: Nova's SchedulerAPI ------------------------------------------------------

interface NovaFlavor {
  name: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  flavorid: string;
  extra_specs: Record<string, string>;
}
const flavor = (vcpus: number, memory_mb: number, root_gb: number, extra_specs: Record<string, string> = {}) => ({
  name: `bm.${vcpus}-${memory_mb}-${root_gb}`,
  vcpus,
  memory_mb,
  root_gb,
  ephemeral_gb: 0,
  swap: 0,
  flavorid: `bm-${vcpus}-${memory_mb}-${root_gb}`,
  extra_specs,
});

/** What scheduler_client.py turns into a RequestSpec. */
interface NovaSpec {
  flavor: NovaFlavor;
  num_instances?: number;
  image?: Record<string, unknown>;
  ignore_hosts?: string[];
  force_hosts?: string[];
  force_nodes?: string[];
  retry?: { num_attempts: number; hosts: [string, string][] };
  requested_destination?: { host: string; node?: string };
  instance_uuid?: string;
}
interface NovaCall {
  /** `[upgrade_levels] scheduler`. */
  cap: string;
  spec: NovaSpec;
  instance_uuids?: string[] | null;
  return_objects?: boolean;
  return_alternates?: boolean;
}
interface PySelection {
  class: string;
  version: string;
  fields: {
    service_host: string;
    nodename: string;
    compute_node_uuid: string;
    cell_uuid: string;
    limits: { class: string; to_dict: Record<string, unknown> };
    allocation_request: string;
    allocation_request_version: string | null;
    availability_zone: string;
  };
  to_dict: { host: string; nodename: string; limits: Record<string, unknown> };
}
interface NovaReply {
  id: number;
  /** The version Nova sent the message at. */
  version: string;
  selections?: PySelection[][];
  dicts?: { host: string; nodename: string; limits: Record<string, unknown> }[];
  /** class: the real class (oslo raises a `_Remote` subclass of it); message: its first line. */
  error?: { class: string; remote: boolean; no_valid_host: boolean; message: string; kwargs: Record<string, string> };
}

/** One scheduler_client.py for the whole file: requests go in as lines, replies come out as lines. */
class NovaClient {
  private readonly waiting = new Map<number, (r: NovaReply) => void>();
  private nextId = 1;
  private stderr = '';
  private ready!: Promise<void>;

  private constructor(private readonly child: ChildProcess) {}

  static start(exchange: string): NovaClient {
    const child = spawn(PYTHON, [CLIENT], {
      env: { PATH: process.env.PATH!, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const c = new NovaClient(child);
    child.stderr!.on('data', (d) => (c.stderr += d));
    let ready: () => void;
    const started = new Promise<void>((r) => (ready = r));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as NovaReply & { ready?: boolean };
      if (msg.ready) return ready();
      c.waiting.get(msg.id)?.(msg);
      c.waiting.delete(msg.id);
    });
    child.stdin!.write(`${JSON.stringify({ transport_url: TEST_AMQP_URL, exchange, timeout: CALL_S })}\n`);
    c.ready = c.bounded(started, 20_000, 'start');
    return c;
  }

  /** Rejects after `ms`, or at once if the process died, with its stderr. */
  private bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (why: string) =>
        reject(new Error(`scheduler_client.py ${what}: ${why}\n${this.stderr.slice(-3000)}`));
      const timer = setTimeout(() => fail(`no answer within ${ms} ms`), ms);
      const onExit = (code: number | null) => fail(`exited (${code})`);
      this.child.once('exit', onExit);
      p.then(
        (v) => resolve(v),
        (e: Error) => fail(e.message),
      ).finally(() => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
      });
    });
  }

  async call(c: NovaCall): Promise<NovaReply> {
    await this.ready;
    const id = this.nextId++;
    const reply = new Promise<NovaReply>((r) => this.waiting.set(id, r));
    this.child.stdin!.write(`${JSON.stringify({ id, ...c })}\n`);
    return this.bounded(reply, (CALL_S + 5) * 1000, `call ${id}`);
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    const exited = new Promise<void>((r) => (this.child.exitCode !== null ? r() : this.child.once('exit', () => r())));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The reply is Nova's NoValidHost, raised in Python, its message matching `message`. */
function expectNoValidHost(r: NovaReply, message: RegExp | string) {
  expect(r.selections ?? r.dicts).toBeUndefined();
  expect(r.error).toMatchObject({ class: 'nova.exception.NoValidHost', remote: true, no_valid_host: true });
  if (typeof message === 'string') expect(r.error!.message).toBe(message);
  else expect(r.error!.message).toMatch(message);
  // Rebuilt from the kwargs our failure carried: the reason is the message after Nova's prefix.
  expect(`No valid host was found. ${r.error!.kwargs.reason}`).toBe(r.error!.message);
}

const nodesOf = (r: NovaReply) =>
  r.selections?.map((per) => per.map((s) => [s.fields.service_host, s.fields.nodename]));

// --- the test --------------------------------------------------------------------------------

describe('a real Nova (python3-nova, Zed) calls our scheduler: select_destinations 4.0 to 4.5', () => {
  let db: NovaBmDatabase;
  let schedulerSvc: ServiceProcess;
  const computes: ServiceProcess[] = [];
  let bus: TestBus;
  let rpc: RpcClient;
  let nova: NovaClient;
  const exchange = uniqueName('nova_sched');
  /** Node uuids by name (see beforeAll). */
  const N: Record<string, string> = {};
  const hostOf: Record<string, string> = {};

  // The nodes, by size. Equal nodes weigh the same: they come in host then uuid order.
  const NODES: [name: string, host: string, cpus: number, ram: number, disk: number, arch: string][] = [
    ['small1', HOST_A, 1, 1024, 10, 'x86_64'],
    ['small2', HOST_A, 1, 1024, 10, 'x86_64'],
    ['small3', HOST_B, 1, 1024, 10, 'x86_64'],
    ['large', HOST_A, 4, 8192, 80, 'x86_64'],
    ['x86', HOST_A, 2, 4096, 40, 'x86_64'],
    ['arm', HOST_B, 2, 4096, 40, 'aarch64'],
    ['ignoreA', HOST_A, 2, 2048, 20, 'x86_64'],
    ['ignoreB', HOST_B, 2, 2048, 20, 'x86_64'],
    ['retryA', HOST_A, 3, 3072, 30, 'x86_64'],
    ['retryB', HOST_B, 3, 3072, 30, 'x86_64'],
    ['pairA', HOST_A, 2, 8192, 50, 'x86_64'],
    ['pairB', HOST_B, 2, 8192, 50, 'x86_64'],
    ['destA', HOST_A, 1, 512, 5, 'x86_64'],
    ['destB', HOST_B, 1, 512, 5, 'x86_64'],
  ];
  const SMALL = flavor(1, 1024, 10);
  /** The three small nodes in the order the scheduler prefers them. */
  let smallOrder: string[];

  beforeAll(async () => {
    db = await createNovaBmDatabase('bm_nova_sched');
    for (const [i, [name, host, cpus, ram, disk, arch]] of NODES.entries()) {
      const n = await new EnrollmentService(db.ds, host).createNode({
        macs: [`52:54:00:92:00:${(i + 1).toString(16).padStart(2, '0')}`],
        cpus,
        memory_mb: ram,
        local_gb: disk,
        pm_address: `10.0.2.${i + 1}`,
        cpu_arch: arch,
      });
      N[name] = n.uuid!;
      hostOf[name] = host;
    }
    const byHostThenUuid = (a: string, b: string) =>
      hostOf[a] === hostOf[b] ? (N[a] < N[b] ? -1 : 1) : hostOf[a] < hostOf[b] ? -1 : 1;
    smallOrder = ['small1', 'small2', 'small3'].sort(byHostThenUuid);
    // No periodic report during the test: a report would free the nodes the scheduler consumed.
    const env = (host: string) => serviceEnv({ databaseUrl: db.url, exchange, host }, { BM_PERIODIC_INTERVAL: '600' });
    schedulerSvc = startService('scheduler', await env(HOST_A));
    await schedulerSvc.waitFor('rpc=');
    for (const host of [HOST_A, HOST_B]) computes.push(startService('compute', await env(host)));
    await Promise.all(computes.map((c) => c.waitFor('rpc=')));
    bus = await openBus(exchange);
    rpc = bus.rpc;
    nova = NovaClient.start(exchange);
    // Both hosts' reports have reached the scheduler once a flavor no node has names every node.
    await eventually(
      async () => {
        const e = (await rpc
          .call(
            { topic: 'scheduler' },
            'select_destinations',
            { request_spec: { instance_type: flavor(99, 1, 1), num_instances: 1 } },
            { version: '4.0', timeout: 5 },
          )
          .catch((x) => x)) as RemoteError;
        expect(e.message).toContain(`0 of ${NODES.length} nodes fit`);
      },
      20_000,
      300,
    );
  }, 90_000);

  afterAll(async () => {
    await nova?.close();
    for (const c of computes) await c.stop();
    await schedulerSvc?.stop();
    await bus?.close();
    await db?.drop();
  }, 30_000);

  /** The scheduler's and computes' output, for a failure's message. */
  const logs = () =>
    `scheduler:\n${schedulerSvc.output().slice(-3000)}\n${computes.map((c) => c.output().slice(-1000)).join('\n')}`;
  const call = async (c: NovaCall) => {
    const r = await nova.call(c);
    if (r.error && !r.error.class.startsWith('nova.exception.')) throw new Error(`${JSON.stringify(r)}\n${logs()}`);
    return r;
  };
  const v45 = (spec: NovaSpec, more: Partial<NovaCall> = {}): NovaCall => ({
    cap: '4.5',
    spec,
    instance_uuids: ['6f3b2d1e-0000-4000-8000-0000000000aa'],
    return_objects: true,
    return_alternates: true,
    ...more,
  });

  it('4.0 (and 4.1, 4.2, which still send it): the legacy dicts in, one host dict per instance out', async () => {
    const f = flavor(4, 8192, 80, { cpu_arch: 'x86_64' });
    const first = await call({
      cap: '4.0',
      spec: { flavor: f, image: { id: '6f3b2d1e-0000-4000-8000-000000000001', properties: {} } },
    });
    expect(first).toEqual({ id: first.id, version: '4.0', dicts: [{ host: HOST_A, nodename: N.large, limits: {} }] });
    // The node was consumed whole: the same request again finds nothing.
    const again = await call({ cap: '4.2', spec: { flavor: f } });
    expect(again.version).toBe('4.0');
    expectNoValidHost(again, /^No valid host was found\. 0 of 14 nodes fit flavor bm\.4-8192-80 \(/);
  });

  it('4.5: Selection objects, the chosen node then its alternates; a node is consumed whole', async () => {
    const r = await call(
      v45({
        flavor: SMALL,
        image: { id: '6f3b2d1e-0000-4000-8000-000000000001', properties: { hw_architecture: 'x86_64' } },
      }),
    );
    expect(r.version).toBe('4.5');
    expect(nodesOf(r)).toEqual([smallOrder.map((n) => [hostOf[n], N[n]])]);
    const [chosen] = r.selections![0];
    expect(chosen).toEqual({
      class: 'nova.objects.selection.Selection',
      version: '1.1',
      fields: {
        service_host: hostOf[smallOrder[0]],
        nodename: N[smallOrder[0]],
        compute_node_uuid: N[smallOrder[0]],
        cell_uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        limits: {
          class: 'nova.objects.request_spec.SchedulerLimits',
          to_dict: {},
        },
        allocation_request: 'null',
        allocation_request_version: null,
        availability_zone: 'nova',
      },
      to_dict: { host: hostOf[smallOrder[0]], nodename: N[smallOrder[0]], limits: {} },
    });
    for (const s of r.selections![0]) expect(s.class).toBe('nova.objects.selection.Selection');
    // The alternates were not consumed, the chosen node was: next, the first alternate is chosen.
    const next = await call(v45({ flavor: SMALL }));
    expect(nodesOf(next)).toEqual([smallOrder.slice(1).map((n) => [hostOf[n], N[n]])]);
    // 4.4: spec_obj and instance_uuids, answered with dicts.
    const v44 = await call({
      cap: '4.4',
      spec: { flavor: SMALL },
      instance_uuids: ['6f3b2d1e-0000-4000-8000-0000000000ab'],
    });
    expect(v44).toMatchObject({ version: '4.4', dicts: [{ host: hostOf[smallOrder[2]], nodename: N[smallOrder[2]] }] });
    expectNoValidHost(await call(v45({ flavor: SMALL })), /0 of 14 nodes fit flavor bm\.1-1024-10/);
  });

  it('4.3: spec_obj alone; num_instances places that many, each on its own node', async () => {
    const r = await call({ cap: '4.3', spec: { flavor: flavor(2, 8192, 50), num_instances: 2 } });
    expect(r).toEqual({
      id: r.id,
      version: '4.3',
      dicts: [
        { host: HOST_A, nodename: N.pairA, limits: {} },
        { host: HOST_B, nodename: N.pairB, limits: {} },
      ],
    });
  });

  it("the flavor's extra specs: cpu_arch picks the node of that architecture", async () => {
    const f = (arch: string) => flavor(2, 4096, 40, { cpu_arch: arch });
    expectNoValidHost(await call(v45({ flavor: f('ppc64le') })), /ComputeCapabilitiesFilter rejected 2\)/);
    // Same size, the other architecture: not even an alternate.
    expect(nodesOf(await call(v45({ flavor: f('x86_64') })))).toEqual([[[HOST_A, N.x86]]]);
    expect(nodesOf(await call(v45({ flavor: f('aarch64') })))).toEqual([[[HOST_B, N.arm]]]);
  });

  it('ignore_hosts (any case, as Nova compares them) and requested_destination', async () => {
    const r = await call(v45({ flavor: flavor(2, 2048, 20), ignore_hosts: [HOST_A.toUpperCase()] }));
    expect(nodesOf(r)).toEqual([[[HOST_B, N.ignoreB]]]);
    // ignoreB is taken now, and ignoreA is still ignored.
    expectNoValidHost(
      await call(v45({ flavor: flavor(2, 2048, 20), ignore_hosts: [HOST_A] })),
      /\(ignore_hosts rejected 8, /,
    );
    const dest = await call(v45({ flavor: flavor(1, 512, 5), requested_destination: { host: HOST_B } }));
    expect(nodesOf(dest)).toEqual([[[HOST_B, N.destB]]]);
  });

  it('the retry list: nodes already tried are skipped (4.5 and 4.0); past max attempts, NoValidHost', async () => {
    const f = flavor(3, 3072, 30);
    const r = await call(v45({ flavor: f, retry: { num_attempts: 1, hosts: [[HOST_A, N.retryA]] } }));
    expect(nodesOf(r)).toEqual([[[HOST_B, N.retryB]]]);
    // retryB is taken now, retryA was tried: nothing left.
    const legacy = await call({
      cap: '4.0',
      spec: { flavor: f, retry: { num_attempts: 2, hosts: [[HOST_A, N.retryA]] } },
    });
    expect(legacy.version).toBe('4.0');
    expectNoValidHost(legacy, /\(RetryFilter rejected 1, ExactCoreFilter rejected 13\)/);
    const tired = await call(v45({ flavor: flavor(1, 512, 5), retry: { num_attempts: 3, hosts: [] } }));
    expectNoValidHost(tired, 'No valid host was found. Exceeded max scheduling attempts 3 for this request.');
  });
});
