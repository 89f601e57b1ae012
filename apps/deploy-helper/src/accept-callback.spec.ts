import { Logger } from '@nestjs/common';
import { type ComputeClient, type DeployJob, type DeployJobs, deployKeySha256 } from '@bm/contracts';
import type { DeployTargetRow, NodeEventInput, NodeEventRepository, NodeRepository } from '@bm/db';
import { type NodeEvent, NodeStateChanged } from '@bm/domain';
import { AcceptCallback, type CallbackRequest } from './accept-callback';

const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const IQN = `iqn-${INSTANCE}`;
const FROM = '10.77.0.21';

/** A prepared node with an instance and a key, a broker and a compute, all in memory, every call recorded. */
function world(
  patch: Partial<DeployTargetRow> = {},
  fail: { publish?: boolean; cast?: boolean; record?: 'reject' | 'throw' } = {},
) {
  const row: DeployTargetRow = {
    id: 7,
    uuid: 'c0ffee00-0000-4000-8000-000000000007',
    service_host: 'cn1',
    instance_uuid: INSTANCE,
    task_state: 'prepared',
    deploy_key: KEY,
    image_path: '/img/disk',
    pxe_config_path: `/tftpboot/${INSTANCE}/config`,
    root_mb: 1024,
    swap_mb: 64,
    ephemeral_mb: 0,
    preserve_ephemeral: false,
    local_gb: 5,
    ...patch,
  };
  const calls: string[] = [];
  const jobs: DeployJob[] = [];
  const casts: unknown[] = [];
  const nodes = {
    deployTarget: async (id: number) => (id === row.id ? { ...row } : undefined),
    reservedAddresses: async (id: number) => (id === row.id ? ['10.77.0.20', FROM] : []),
    transition: async (id: number, instance: string, event: NodeEvent) => {
      calls.push(`transition ${event}`);
      if (id !== row.id || instance !== row.instance_uuid || row.task_state !== 'prepared')
        throw new NodeStateChanged(`Node ${id} changed while ${event} was applied`);
      row.task_state = 'deploying';
      return { id, task_state: row.task_state, instance_uuid: instance };
    },
    read: async (id: number) =>
      id === row.id ? { id, task_state: row.task_state, instance_uuid: row.instance_uuid } : undefined,
  };
  const queue = {
    publish: async (job: DeployJob) => {
      calls.push('publish');
      if (fail.publish) throw new Error('connection lost');
      jobs.push(job);
    },
  };
  const compute = {
    deployStateChanged: async (host: string, args: unknown) => {
      calls.push(`cast ${host}`);
      if (fail.cast) throw new Error('no route');
      casts.push(args);
    },
  };
  const events: NodeEventInput[] = [];
  const timeline = {
    record: (e: NodeEventInput) => {
      if (fail.record === 'throw') throw new Error('no pool');
      if (fail.record === 'reject') return Promise.reject(new Error('database away'));
      events.push(e);
      return Promise.resolve();
    },
  };
  const accept = new AcceptCallback(
    nodes as unknown as NodeRepository,
    queue as unknown as DeployJobs,
    compute as unknown as ComputeClient,
    timeline as unknown as NodeEventRepository,
  );
  return { row, calls, jobs, casts, events, accept };
}

/** Lets the timeline's insert (not awaited by the callback) run. */
const settle = () => new Promise((r) => setImmediate(r));

const post = (body: string, patch: Partial<CallbackRequest> = {}): CallbackRequest => ({
  method: 'POST',
  contentType: 'application/x-www-form-urlencoded',
  body: Buffer.from(body),
  remoteAddress: FROM,
  ...patch,
});
const ramdisk = (o: { i?: number; k?: string; e?: string } = {}) =>
  `i=${o.i ?? 7}&k=${o.k ?? KEY}&a=${FROM}&n=${IQN}&e=${o.e ?? ''}`;

describe('AcceptCallback', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('queues the job, then moves the node to deploying, then tells its compute; 200 empty', async () => {
    const w = world();
    const out = await w.accept.run(post(ramdisk()));
    expect({ status: out.status, body: out.body }).toEqual({ status: 200, body: '' });
    expect(w.calls).toEqual(['publish', 'transition deploy_started', 'cast cn1']);
    expect(w.jobs).toEqual([
      {
        node_id: 7,
        instance_uuid: INSTANCE,
        key_sha256: deployKeySha256(KEY),
        address: FROM,
        port: 3260,
        iqn: IQN,
        lun: 1,
      },
    ]);
    expect(JSON.stringify(w.jobs)).not.toContain(KEY);
    expect(out.note).not.toContain(KEY);
    expect(w.casts).toEqual([{ node_id: 7, instance_uuid: INSTANCE, task_state: 'deploying' }]);
    expect(w.row.task_state).toBe('deploying');
    expect(warn).not.toHaveBeenCalled();
  });

  it("logs the ramdisk's error and carries it in the job; the deploy still goes ahead", async () => {
    const w = world();
    const out = await w.accept.run(post(ramdisk({ e: 'disk+not+found' })));
    expect(out.status).toBe(200);
    expect(w.jobs[0].ramdisk_error).toBe('disk not found');
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('disk not found'));
  });

  it('a failed cast to compute does not fail the callback (compute polls the row)', async () => {
    const w = world({}, { cast: true });
    expect((await w.accept.run(post(ramdisk()))).status).toBe(200);
    expect(w.row.task_state).toBe('deploying');
  });

  it('no job taken by the broker: 503, and the node is not moved', async () => {
    const w = world({}, { publish: true });
    const out = await w.accept.run(post(ramdisk()));
    expect(out).toMatchObject({ status: 503, body: 'the deploy could not be queued; try again' });
    expect(w.calls).toEqual(['publish']);
    expect(w.row.task_state).toBe('prepared');
  });

  const refusals: Array<[string, Partial<DeployTargetRow>, CallbackRequest, number, string]> = [
    ['a GET', {}, post('', { method: 'GET', body: Buffer.alloc(0) }), 501, 'Not Implemented'],
    ['a missing parameter', {}, post(`k=${KEY}&a=${FROM}&n=${IQN}`), 400, "parameter ''i'' is not defined"],
    ['a body over the limit', {}, post(ramdisk(), { maxBytes: 16 }), 413, 'request body is larger than 16 bytes'],
    ['a wrong key', {}, post(ramdisk({ k: KEY.replace('A', 'B') })), 400, 'key is not match'],
    ['an unknown node', {}, post(ramdisk({ i: 8 })), 400, 'key is not match'],
    ['a node without a key', { deploy_key: null }, post(ramdisk()), 400, 'key is not match'],
    [
      'another address than the reserved ones',
      {},
      post(ramdisk(), { remoteAddress: '10.77.0.99' }),
      403,
      'request from 10.77.0.99 is not from an address reserved for node 7',
    ],
    [
      'a node already deploying (a second callback)',
      { task_state: 'deploying' },
      post(ramdisk()),
      409,
      'node 7 is not waiting for a deploy (task_state deploying)',
    ],
    [
      'a node still building',
      { task_state: 'building' },
      post(ramdisk()),
      409,
      'node 7 is not waiting for a deploy (task_state building)',
    ],
    [
      'a prepared node without an instance',
      { instance_uuid: null },
      post(ramdisk()),
      409,
      'node 7 is not waiting for a deploy (task_state prepared, no instance)',
    ],
  ];
  it.each(refusals)('refuses %s, changing nothing', async (_what, patch, req, status, body) => {
    const w = world(patch);
    const out = await w.accept.run(req);
    expect({ status: out.status, body: out.body }).toEqual({ status, body });
    expect(w.calls).toEqual([]);
    expect(w.row.task_state).toBe(patch.task_state ?? 'prepared');
  });

  describe('the node timeline (deploy.callback)', () => {
    it('records an accepted callback with its address, the queued job and the instance', async () => {
      const w = world();
      await w.accept.run(post(ramdisk({ e: 'disk+not+found' })));
      await settle();
      expect(w.events).toEqual([
        {
          nodeId: 7,
          source: 'deploy-helper',
          kind: 'deploy.callback',
          detail: expect.stringMatching(
            new RegExp(`^accepted from ${FROM}: node 7 instance ${INSTANCE}: deploying, job \\S+ queued`),
          ),
          instanceUuid: INSTANCE,
        },
      ]);
      expect(w.events[0].detail).toMatch(/; the ramdisk reports: disk not found$/);
      expect(JSON.stringify(w.events)).not.toContain(KEY);
    });

    const recorded: Array<[string, Partial<DeployTargetRow>, CallbackRequest, string]> = [
      ['a wrong key', {}, post(ramdisk({ k: KEY.replace('A', 'B') })), `refused from ${FROM}: 400 key is not match`],
      [
        'another address',
        {},
        post(ramdisk(), { remoteAddress: '10.77.0.99' }),
        'refused from 10.77.0.99: 403 request from 10.77.0.99 is not from an address reserved for node 7',
      ],
      [
        'a node not waiting',
        { task_state: 'deploying' },
        post(ramdisk()),
        `refused from ${FROM}: 409 node 7 is not waiting for a deploy (task_state deploying)`,
      ],
    ];
    it.each(recorded)('records a refusal: %s', async (_what, patch, req, detail) => {
      const w = world(patch);
      await w.accept.run(req);
      await settle();
      expect(w.events).toHaveLength(1);
      expect(w.events[0]).toMatchObject({ nodeId: 7, source: 'deploy-helper', kind: 'deploy.callback' });
      expect(w.events[0].detail.startsWith(detail)).toBe(true);
      expect(JSON.stringify(w.events)).not.toContain(KEY.replace('A', 'B'));
    });

    it('records nothing for an unknown node or a malformed request', async () => {
      const w = world();
      await w.accept.run(post(ramdisk({ i: 8 })));
      await w.accept.run(post(`k=${KEY}&a=${FROM}&n=${IQN}`));
      await settle();
      expect(w.events).toEqual([]);
    });

    it('records an unexpected failure, which still reaches the server', async () => {
      const w = world();
      (w.accept as unknown as { nodes: { transition: unknown } }).nodes.transition = async () => {
        throw new Error('database away');
      };
      await expect(w.accept.run(post(ramdisk()))).rejects.toThrow('database away');
      await settle();
      expect(w.events.map((e) => e.detail)).toEqual([`failed from ${FROM}: database away`]);
    });

    it.each(['reject', 'throw'] as const)('a timeline that cannot be written (%s) changes no answer', async (how) => {
      const w = world({}, { record: how });
      const out = await w.accept.run(post(ramdisk()));
      await settle();
      expect(out.status).toBe(200);
      expect(w.row.task_state).toBe('deploying');
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('deploy.callback not written to the timeline'));
    });
  });

  it('the same callback twice: the second gets 409, one job, one transition', async () => {
    const w = world();
    expect((await w.accept.run(post(ramdisk()))).status).toBe(200);
    const again = await w.accept.run(post(ramdisk()));
    expect(again).toMatchObject({ status: 409, body: 'node 7 is not waiting for a deploy (task_state deploying)' });
    expect(w.jobs).toHaveLength(1);
    expect(w.calls.filter((c) => c.startsWith('transition'))).toHaveLength(1);
  });

  it('the row moved on between the read and the transition: 409 with the state now, no cast', async () => {
    const w = world();
    const nodes = (w.accept as unknown as { nodes: { deployTarget: unknown } }).nodes;
    const read = nodes.deployTarget as (id: number) => Promise<DeployTargetRow | undefined>;
    nodes.deployTarget = async (id: number) => {
      const r = await read(id);
      w.row.task_state = 'deploying'; // a racing callback won
      return r;
    };
    const out = await w.accept.run(post(ramdisk()));
    expect(out).toMatchObject({ status: 409, body: 'node 7 is not waiting for a deploy (task_state deploying)' });
    expect(w.calls).toEqual(['publish', 'transition deploy_started']);
  });

  it('an unexpected failure of the transition is thrown (the server answers 500)', async () => {
    const w = world();
    const nodes = (w.accept as unknown as { nodes: { transition: unknown } }).nodes;
    nodes.transition = async () => {
      throw new Error('database away');
    };
    await expect(w.accept.run(post(ramdisk()))).rejects.toThrow('database away');
  });
});
