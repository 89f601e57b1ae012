import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { type DeployJob, deployKeySha256 } from '@bm/contracts';
import type { DeployTargetRow } from '@bm/db';
import { NodeStateChanged } from '@bm/domain';
import { CallbackNotFinished, DeployAbandoned, DeployNode, type DeployPorts } from './deploy-node';
import { DeployWorker, InvalidDeployJob } from './deploy-worker';

const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const IMAGE = '6f1c2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b';
const MIB = 1024 * 1024;

type Fail = 'attach' | 'show' | 'write' | 'activate' | 'detach';

function world(patch: Partial<DeployTargetRow> = {}, o: { fail?: Fail; doneFailures?: number; format?: string } = {}) {
  const row: DeployTargetRow = {
    id: 7,
    uuid: 'c0ffee00-0000-4000-8000-000000000007',
    service_host: 'cn1',
    instance_uuid: INSTANCE,
    task_state: 'deploying',
    deploy_key: KEY,
    image_path: IMAGE,
    pxe_config_path: `/tftpboot/${INSTANCE}/config`,
    root_mb: 32,
    swap_mb: 8,
    ephemeral_mb: 8,
    preserve_ephemeral: false,
    local_gb: 5,
    ...patch,
  };
  const calls: string[] = [];
  const events: string[] = [];
  const casts: unknown[] = [];
  const boom = (what: Fail) => {
    if (o.fail === what) throw new Error(`${what} exploded`);
  };
  let doneFailures = o.doneFailures ?? 0;
  const ports: DeployPorts = {
    nodes: {
      deployTarget: async (id: number) => (id === row.id ? { ...row } : undefined),
      transition: async (id: number, instance: string, event: string) => {
        calls.push(`transition ${event}`);
        if (row.task_state !== 'deploying') throw new NodeStateChanged(`Node ${id} changed`);
        row.task_state = event === 'deploy_done' ? 'deploy complete' : 'deploy failed';
        return { id, task_state: row.task_state, instance_uuid: instance };
      },
    } as unknown as DeployPorts['nodes'],
    events: {
      record: async (e: { detail: string; kind: string; source: string }) => {
        events.push(`${e.source} ${e.kind} ${e.detail}`);
        return {} as never;
      },
    } as unknown as DeployPorts['events'],
    attacher: async () => ({
      attach: async (t) => {
        calls.push(`attach ${t.address}:${t.port} ${t.iqn} ${t.lun}`);
        boom('attach');
        return {
          path: '/lun',
          sizeBytes: 64 * MIB,
          lost: new Promise<Error>(() => undefined),
          detach: async () => {
            calls.push('detach');
            boom('detach');
          },
        };
      },
    }),
    glance: {
      show: async (id: string) => {
        calls.push(`show ${id}`);
        boom('show');
        return { id, disk_format: o.format ?? 'raw', size: 4 * MIB, virtual_size: null } as never;
      },
      download: async (id: string) => {
        calls.push(`download ${id}`);
        return {
          stream: Readable.from([Buffer.alloc(4 * MIB)]),
          size: 4 * MIB,
          checksum: 'abc',
          os_hash_algo: null,
          os_hash_value: null,
        };
      },
    },
    partitioner: {
      apply: async (layout) => {
        calls.push(`partition ${layout.partitions.map((p) => `${p.role}:${p.sizeMb}`).join(',')}`);
      },
    },
    writer: {
      writeRaw: async (r) => {
        calls.push(`writeRaw @${r.offsetBytes / MIB} max ${r.maxBytes / MIB} md5 ${r.expected?.md5}`);
        boom('write');
        r.onProgress?.(2 * MIB);
        r.onProgress?.(4 * MIB);
        return { bytes: 4 * MIB, md5: 'abc', sha512: '', durationMs: 1 };
      },
      writeQcow2: async (r) => {
        calls.push(`writeQcow2 @${r.offsetBytes / MIB}`);
        return { virtualSize: 4 * MIB, durationMs: 1 };
      },
    },
    tools: {
      mkswap: async (_t, offset, size, label) => {
        calls.push(`mkswap @${offset / MIB} ${size / MIB} ${label}`);
        return { uuid: 's' };
      },
      mkfsEphemeral: async (_t, offset, size, fs, label) => {
        calls.push(`mkfs @${offset / MIB} ${size / MIB} ${fs} ${label}`);
      },
      rootUuid: async (_t, offset) => {
        calls.push(`rootUuid @${offset / MIB}`);
        return '1b4e28ba-2fa1-11d2-883f-b9a761bde3fb';
      },
    },
    netboot: {
      activateBoot: async (node: number, rootUuid: string) => {
        calls.push(`activateBoot ${node} ${rootUuid}`);
        boom('activate');
        return { node: String(node), instance: INSTANCE, root_uuid: rootUuid };
      },
    } as unknown as DeployPorts['netboot'],
    compute: {
      deployStateChanged: async (host: string, args: unknown) => {
        calls.push(`cast ${host}`);
        casts.push(args);
      },
    } as unknown as DeployPorts['compute'],
    sendDone: async (address: string, port: number) => {
      calls.push(`done ${address}:${port}`);
      if (doneFailures-- > 0) throw new Error('ECONNREFUSED');
    },
    sleep: async (ms: number) => {
      calls.push(`sleep ${ms}`);
    },
  };
  const deploy = new DeployNode(ports, { donePort: 10000, doneAttempts: 5, doneRetryMs: 2000 });
  return { row, calls, events, casts, deploy };
}

const job = (patch: Partial<DeployJob> = {}): DeployJob => ({
  node_id: 7,
  instance_uuid: INSTANCE,
  key_sha256: deployKeySha256(KEY),
  address: '10.77.0.21',
  port: 3260,
  iqn: `iqn-${INSTANCE}`,
  lun: 1,
  ...patch,
});

describe('DeployNode', () => {
  let logs: jest.SpyInstance[];
  beforeEach(() => {
    logs = (['log', 'warn', 'error'] as const).map((m) =>
      jest.spyOn(Logger.prototype, m).mockImplementation(() => undefined),
    );
  });
  afterEach(() => jest.restoreAllMocks());

  it('abandon() at shutdown detaches the LUN under a blocked write; the deploy is not marked failed', async () => {
    const w = world();
    // The write blocks as one into a FUSE export whose target vanished: until the LUN is detached.
    let unblock!: (e: Error) => void;
    const blocked = new Promise<never>((_, reject) => (unblock = reject));
    const ports = (w.deploy as unknown as { ports: DeployPorts }).ports;
    const attach = (await ports.attacher()).attach;
    ports.attacher = async () => ({
      attach: async (t) => {
        const lun = await attach(t);
        return {
          ...lun,
          detach: async () => (await lun.detach(), unblock(new Error('Transport endpoint is not connected'))),
        };
      },
    });
    ports.writer.writeRaw = () => blocked;
    const run = w.deploy.run(job());
    await new Promise((r) => setTimeout(r, 20));
    expect(w.calls.filter((c) => c === 'detach')).toEqual([]);
    await w.deploy.abandon();
    await expect(run).rejects.toThrow(DeployAbandoned);
    // Detached by abandon() (then again by the deploy unwinding: a real LUN's detach is idempotent).
    expect(w.calls).toContain('detach');
    expect(w.calls.some((c) => c.startsWith('transition'))).toBe(false);
    expect(w.row.task_state).toBe('deploying');
    expect(w.casts).toEqual([]);
  });

  it('deploys in order: attach … rootUuid, detach, activate_boot, done, deploy complete, cast', async () => {
    const w = world();
    const out = await w.deploy.run(job());
    expect(out).toEqual({ kind: 'done', rootUuid: '1b4e28ba-2fa1-11d2-883f-b9a761bde3fb' });
    expect(w.calls).toEqual([
      `attach 10.77.0.21:3260 iqn-${INSTANCE} 1`,
      `show ${IMAGE}`,
      'partition ephemeral:8,swap:8,root:32',
      `download ${IMAGE}`,
      'writeRaw @17 max 32 md5 abc',
      'mkswap @9 8 swap1',
      'mkfs @1 8 ext3 ephemeral0',
      'rootUuid @17',
      'detach',
      'activateBoot 7 1b4e28ba-2fa1-11d2-883f-b9a761bde3fb',
      'done 10.77.0.21:10000',
      'transition deploy_done',
      'cast cn1',
    ]);
    expect(w.row.task_state).toBe('deploy complete');
    expect(w.casts).toEqual([{ node_id: 7, instance_uuid: INSTANCE, task_state: 'deploy complete' }]);
    expect(w.events.map((e) => e.split(':')[0])).toEqual([
      'deploy-helper deploy.step attach',
      'deploy-helper deploy.step image',
      'deploy-helper deploy.step layout',
      'deploy-helper deploy.step partition',
      'deploy-helper deploy.progress write', // the bytes written, every few percent
      'deploy-helper deploy.progress write',
      'deploy-helper deploy.step write',
      'deploy-helper deploy.step mkswap',
      'deploy-helper deploy.step mkfs_ephemeral',
      'deploy-helper deploy.step root_uuid',
      'deploy-helper deploy.step detach',
      'deploy-helper deploy.step activate_boot',
      'deploy-helper deploy.step notify',
      'deploy-helper deploy.step deploy complete',
    ]);
    const logged = logs.flatMap((s) => s.mock.calls.map((c) => String(c[0])));
    expect([...logged, ...w.events].join('\n')).not.toContain(KEY);
  });

  it('without ephemeral: the Havana-like root 1, swap 2 layout, no mkfs', async () => {
    const w = world({ ephemeral_mb: 0 });
    await w.deploy.run(job());
    expect(w.calls).toContain('partition root:32,swap:8');
    expect(w.calls).toContain('writeRaw @1 max 32 md5 abc');
    expect(w.calls.some((c) => c.startsWith('mkfs'))).toBe(false);
  });

  it('preserve_ephemeral skips mkfs (and says so on the timeline)', async () => {
    const w = world({ preserve_ephemeral: true });
    expect((await w.deploy.run(job())).kind).toBe('done');
    expect(w.calls.some((c) => c.startsWith('mkfs'))).toBe(false);
    expect(w.events.join('\n')).toContain('mkfs_ephemeral skipped: preserve_ephemeral');
  });

  it('qcow2 goes through writeQcow2', async () => {
    const w = world({}, { format: 'qcow2' });
    expect((await w.deploy.run(job())).kind).toBe('done');
    expect(w.calls).toContain('writeQcow2 @17');
  });

  const stale: Array<[string, Partial<DeployTargetRow>, Partial<DeployJob>]> = [
    ['an unknown node', {}, { node_id: 8 }],
    ['a node no longer deploying (a duplicate job)', { task_state: 'deploy complete' }, {}],
    ['another instance', { instance_uuid: '11111111-2222-4333-8444-555555555555' }, {}],
    ['another key', {}, { key_sha256: deployKeySha256(KEY.replace('A', 'B')) }],
    ['no key any more', { deploy_key: null }, {}],
  ];
  it.each(stale)('ignores a stale job: %s', async (_what, patch, jobPatch) => {
    const w = world(patch);
    const out = await w.deploy.run(job(jobPatch));
    expect(out.kind).toBe('ignored');
    expect(w.calls).toEqual([]);
    expect(w.events).toEqual([]);
  });

  it('a job that arrives before its callback moved the node to deploying is retried, not dropped', async () => {
    const w = world({ task_state: 'prepared' });
    await expect(w.deploy.run(job())).rejects.toThrow(CallbackNotFinished);
    expect(w.calls).toEqual([]);
    // …while a prepared node of another deploy (another key) is a stale job, dropped.
    expect((await w.deploy.run(job({ key_sha256: deployKeySha256(KEY.replace('A', 'B')) }))).kind).toBe('ignored');
    w.row.task_state = 'deploying';
    expect((await w.deploy.run(job())).kind).toBe('done');
  });

  it.each([
    ['attach', 'attach', false],
    ['show', 'image', true],
    ['write', 'write', true],
    ['activate', 'activate_boot', true],
  ] as Array<[Fail, string, boolean]>)(
    'a failure at %s: deploy failed, detached, step recorded',
    async (fail, step, attached) => {
      const w = world({}, { fail });
      const out = await w.deploy.run(job());
      expect(out).toEqual({ kind: 'failed', step, reason: `${fail} exploded` });
      expect(w.calls.includes('detach')).toBe(attached);
      expect(w.calls.slice(-2)).toEqual(['transition deploy_failed', 'cast cn1']);
      expect(w.row.task_state).toBe('deploy failed');
      expect(w.casts).toEqual([{ node_id: 7, instance_uuid: INSTANCE, task_state: 'deploy failed' }]);
      expect(w.events[w.events.length - 1]).toContain(`${step} failed: ${fail} exploded`);
      expect(w.calls.some((c) => c.startsWith('done'))).toBe(false);
    },
  );

  it('a failing detach after a failed write does not hide the write failure', async () => {
    const w = world({}, { fail: 'write' });
    const out = await w.deploy.run(job());
    expect(out).toMatchObject({ kind: 'failed', step: 'write' });
  });

  it('image_path not an image id: fails with a clear message, detached', async () => {
    const w = world({ image_path: '/var/lib/nova/instances/x/disk' });
    const out = await w.deploy.run(job());
    expect(out).toMatchObject({ kind: 'failed', step: 'image' });
    expect((out as { reason: string }).reason).toContain("compute must record the id of the instance's image");
    expect(w.calls).toContain('detach');
  });

  it('retries done until the ramdisk listens', async () => {
    const w = world({}, { doneFailures: 2 });
    expect((await w.deploy.run(job())).kind).toBe('done');
    const tail = w.calls.slice(w.calls.indexOf('done 10.77.0.21:10000'));
    expect(tail).toEqual([
      'done 10.77.0.21:10000',
      'sleep 2000',
      'done 10.77.0.21:10000',
      'sleep 2000',
      'done 10.77.0.21:10000',
      'transition deploy_done',
      'cast cn1',
    ]);
  });

  it('done never delivered: deploy failed at notify', async () => {
    const w = world({}, { doneFailures: 99 });
    const out = await w.deploy.run(job());
    expect(out).toMatchObject({ kind: 'failed', step: 'notify' });
    expect(w.calls.filter((c) => c.startsWith('done'))).toHaveLength(5);
    expect(w.row.task_state).toBe('deploy failed');
  });

  it('the row moved on before the failure is recorded: nothing marked, no cast', async () => {
    const w = world({}, { fail: 'write' });
    const nodes = (w.deploy as unknown as { ports: DeployPorts }).ports.nodes;
    const transition = nodes.transition.bind(nodes);
    nodes.transition = async (...args) => {
      w.row.task_state = 'deleted';
      return transition(...args);
    };
    expect((await w.deploy.run(job())).kind).toBe('failed');
    expect(w.casts).toEqual([]);
  });
});

// What the deploy helper's metrics hear (bm_deploy_bytes_total, bm_deploy_duration_seconds).
describe('DeployNode observer', () => {
  beforeEach(() => {
    for (const m of ['log', 'warn', 'error'] as const)
      jest.spyOn(Logger.prototype, m).mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const observed = (w: ReturnType<typeof world>) => {
    const seen: string[] = [];
    (w.deploy as unknown as { ports: DeployPorts }).ports.observer = {
      written: (bytes) => void seen.push(`written ${bytes / MIB} MiB`),
      deployed: (outcome, seconds) => void seen.push(`${outcome} ${seconds >= 0 && seconds < 5}`),
    };
    return seen;
  };

  it('a deploy done: the bytes written, then its time', async () => {
    const w = world();
    const seen = observed(w);
    await w.deploy.run(job());
    expect(seen).toEqual(['written 4 MiB', 'done true']);
  });

  it('a failed write: nothing written, the deploy failed', async () => {
    const w = world({}, { fail: 'write' });
    const seen = observed(w);
    await w.deploy.run(job());
    expect(seen).toEqual(['failed true']);
  });

  it('a stale job (the node moved on) is no deploy', async () => {
    const w = world({ task_state: 'active' });
    const seen = observed(w);
    expect(await w.deploy.run(job())).toMatchObject({ kind: 'ignored' });
    expect(seen).toEqual([]);
  });
});

describe('DeployWorker.handle', () => {
  beforeEach(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  afterEach(() => jest.restoreAllMocks());
  const conn = { register: async () => () => undefined } as never;
  it('runs a valid job', async () => {
    const runs: DeployJob[] = [];
    const worker = new DeployWorker(
      conn,
      { run: async (j) => (runs.push(j), { kind: 'ignored', reason: '' }) },
      {
        prefetch: 2,
      },
    );
    await worker.handle({ ...job() });
    expect(runs).toEqual([job()]);
    expect(worker.active).toBe(0);
  });

  it('deploy_workers = 0: starts and stops without ever consuming (AMQP prefetch 0 would mean unlimited)', async () => {
    const registered: unknown[] = [];
    const watching = { register: async (h: unknown) => (registered.push(h), () => undefined) } as never;
    const worker = new DeployWorker(watching, { run: async () => ({ kind: 'ignored', reason: '' }) }, { prefetch: 0 });
    await worker.onApplicationBootstrap();
    await worker.beforeApplicationShutdown();
    expect(registered).toEqual([]);
  });

  it('shutdown waits for the deploys running only up to the grace ([DEFAULT] graceful_shutdown_timeout)', async () => {
    const worker = new DeployWorker(
      conn,
      { run: () => new Promise(() => undefined) },
      { prefetch: 1, stopTimeoutMs: 50 },
    );
    const stops: unknown[] = [];
    (worker as unknown as { queue: { stop(o: unknown): Promise<void> } }).queue.stop = async (o) => {
      stops.push(o);
    };
    void worker.handle({ ...job() }).catch(() => undefined);
    const t = Date.now();
    await worker.beforeApplicationShutdown();
    expect(stops).toEqual([{ timeoutMs: 50 }]);
    expect(worker.active).toBe(1);
    // The deploy that never ends does not hold the shutdown.
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('past the grace, shutdown abandons the deploys still running (no blocked write holds the exit)', async () => {
    let abandoned = 0;
    let cut!: () => void;
    const worker = new DeployWorker(
      conn,
      {
        run: () => new Promise((_, reject) => (cut = () => reject(new Error('abandoned')))),
        abandon: async () => {
          abandoned++;
          cut();
        },
      },
      { prefetch: 1, stopTimeoutMs: 50 },
    );
    (worker as unknown as { queue: { stop(o: unknown): Promise<void> } }).queue.stop = async () => undefined;
    void worker.handle({ ...job() }).catch(() => undefined);
    await worker.beforeApplicationShutdown();
    expect(abandoned).toBe(1);
    expect(worker.active).toBe(0);
  });

  it('refuses a malformed job with the reason (the queue dead-letters it)', async () => {
    const worker = new DeployWorker(conn, { run: async () => ({ kind: 'ignored', reason: '' }) }, { prefetch: 1 });
    await expect(worker.handle({ ...job(), key_sha256: 'nope' })).rejects.toThrow(InvalidDeployJob);
    await expect(worker.handle({ ...job(), extra: 1 })).rejects.toThrow(/extra is not a known field/);
  });

  it('shutdown waits for the running deploys', async () => {
    let finish!: () => void;
    const worker = new DeployWorker(
      conn,
      { run: () => new Promise((r) => (finish = () => r({ kind: 'ignored', reason: '' }))) },
      { prefetch: 1 },
    );
    const handled = worker.handle(job());
    expect(worker.active).toBe(1);
    let stopped = false;
    const stop = worker.beforeApplicationShutdown().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    finish();
    await Promise.all([handled, stop]);
    expect(stopped).toBe(true);
  });
});
