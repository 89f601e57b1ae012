import {
  type BmTaskState,
  InstanceDeployFailure,
  InstanceNotFound,
  InvalidNodeStateTransition,
  NodeAssociated,
  releasesNode,
  transition,
} from '@bm/domain';
import type { DeployDisk } from '@bm/db';
import { type SpawnNode, type SpawnNodes, type SpawnObserver, type SpawnServices, Spawner } from './spawn';

const NODE = 'c0ffee00-0000-4000-8000-000000000001';
const INSTANCE = '0b6ac7d1-3f3e-4d9a-8d0e-5a1c2b3c4d5e';
const IMAGES = {
  kernel: '0a000000-0000-4000-8000-00000000000a',
  ramdisk: '0b000000-0000-4000-8000-00000000000b',
  deploy_kernel: '0c000000-0000-4000-8000-00000000000c',
  deploy_ramdisk: '0d000000-0000-4000-8000-00000000000d',
};
const IMAGE_ID = '0e000000-0000-4000-8000-00000000000e';

/** One node in memory, and a record of every state it went through and every service call. */
function world(opts: { fail?: Partial<Record<keyof SpawnServices, string>>; taken?: boolean } = {}) {
  const row: SpawnNode & {
    instance_name: string | null;
    deploy_key: string | null;
    image_path?: string;
    disk?: DeployDisk;
  } = {
    id: 7,
    task_state: opts.taken ? 'active' : null,
    instance_uuid: opts.taken ? 'someone-else' : null,
    instance_name: null,
    deploy_key: null,
  };
  const states: BmTaskState[] = [];
  const calls: string[] = [];
  const reasons: string[] = [];
  /** Set when the instance is on another node too (rescheduled there). */
  const rescheduled = { value: false };
  const nodes: SpawnNodes = {
    associate: async (uuid, instance, name) => {
      if (uuid !== NODE) throw new Error('no such node');
      if (row.instance_uuid !== null)
        throw new NodeAssociated(`Node ${uuid} is associated with instance ${row.instance_uuid}`);
      Object.assign(row, {
        instance_uuid: instance,
        instance_name: name,
        task_state: transition(row.task_state, 'associate'),
      });
      states.push('building');
      return { ...row };
    },
    claimForRebuild: async (instance) => {
      if (row.instance_uuid !== instance) throw new InstanceNotFound(instance);
      row.task_state = transition(row.task_state, 'rebuild');
      states.push('building');
      return { ...row };
    },
    read: async () => ({ ...row }),
    recordDeploy: async (_id, instance, fields) => {
      if (row.instance_uuid !== instance || row.task_state !== 'building') throw new Error('stale deploy fields');
      row.deploy_key = fields.deploy_key;
      row.image_path = fields.image_path;
      row.disk = fields.disk;
    },
    // The state machine itself decides, as NodeRepository.transition does in SQL.
    transition: async (_id, instance, event, why) => {
      if (why) reasons.push(`${event}: ${why}`);
      if (row.instance_uuid !== instance) throw new InstanceNotFound(instance);
      const to = transition(row.task_state, event);
      row.task_state = to;
      if (releasesNode(event)) Object.assign(row, { instance_uuid: null, instance_name: null, deploy_key: null });
      if (states[states.length - 1] !== to) states.push(to);
      return { ...row };
    },
    carriedElsewhere: async () => rescheduled.value,
  };
  const svc = (name: keyof SpawnServices) => async () => {
    calls.push(name);
    if (opts.fail?.[name]) throw new Error(opts.fail[name]);
    return { pxe_config_path: '/tftpboot/x/config' } as never;
  };
  const services: SpawnServices = {
    prepareDeploy: svc('prepareDeploy'),
    cleanDeploy: svc('cleanDeploy'),
    setBootDevicePxe: svc('setBootDevicePxe'),
    powerOff: svc('powerOff'),
    powerOn: svc('powerOn'),
  };
  const clock = { t: 0 };
  return { row, states, calls, reasons, nodes, services, clock, rescheduled };
}

/** A deploy helper that moves the row on each poll: `script` is the sequence of states it sets. */
function spawner(w: ReturnType<typeof world>, script: BmTaskState[], deployTimeoutS = 600, observer?: SpawnObserver) {
  const steps = [...script];
  return new Spawner(w.nodes, w.services, {
    deployTimeoutS,
    observer,
    clock: { now: () => w.clock.t, sleep: async () => undefined },
    sleep: async (ms) => {
      w.clock.t += ms;
      const next = steps.shift();
      if (next !== undefined) {
        w.row.task_state = next;
        w.states.push(next);
      }
    },
  });
}

const DISK = { root_mb: 32768, swap_mb: 1, ephemeral_mb: 0 };
const request = {
  instanceUuid: INSTANCE,
  instanceName: 'bm-1',
  nodeUuid: NODE,
  imageId: IMAGE_ID,
  images: IMAGES,
  disk: DISK,
};

describe('Spawner (BareMetalDriver.spawn)', () => {
  it('building → prepared (PXE ready, boot device PXE, power off/on) → deploying → deploy complete → active', async () => {
    const w = world();
    const done = await spawner(w, ['deploying', 'deploy complete']).spawn(request);
    expect(done).toMatchObject({ id: 7, task_state: 'active', instance_uuid: INSTANCE });
    expect(w.states).toEqual(['building', 'prepared', 'deploying', 'deploy complete', 'active']);
    expect(w.calls).toEqual(['prepareDeploy', 'setBootDevicePxe', 'powerOff', 'powerOn']);
    expect(w.row.deploy_key).toMatch(/^[A-Z0-9]{32}$/);
    expect(w.row.image_path).toBe(IMAGE_ID); // the deploy helper streams this image…
    expect(w.row.disk).toEqual(DISK); // …into these partitions
  });

  it('deploy failed: error, power off, netboot clean, deleted with the association cleared; the error reaches the caller', async () => {
    const w = world();
    await expect(spawner(w, ['deploying', 'deploy failed']).spawn(request)).rejects.toThrow(
      new InstanceDeployFailure(`PXE deploy failed for instance ${INSTANCE}`),
    );
    expect(w.states).toEqual(['building', 'prepared', 'deploying', 'deploy failed', 'error', 'deleted']);
    expect(w.calls.slice(-2)).toEqual(['powerOff', 'cleanDeploy']);
    expect([w.row.instance_uuid, w.row.deploy_key]).toEqual([null, null]);
    // Why, on the node's timeline with the change to error.
    expect(w.reasons).toEqual([`failed: PXE deploy failed for instance ${INSTANCE}`]);
  });

  it('no callback within pxe_deploy_timeout: timeout, cleaned up', async () => {
    const w = world();
    await expect(spawner(w, [], 5).spawn(request)).rejects.toThrow(/Timeout reached while waiting for PXE deploy/);
    expect(w.clock.t).toBeGreaterThan(5000);
    expect(w.clock.t).toBeLessThan(8000);
    expect(w.states.slice(-2)).toEqual(['error', 'deleted']);
  });

  it('each waiting state has its own deadline: a deploy that started in time may take its own timeout', async () => {
    const w = world();
    // 4 s in prepared, then deploying for 4 s, then done: never more than 5 s in one state.
    const steps: (BmTaskState | undefined)[] = [
      undefined,
      undefined,
      undefined,
      'deploying',
      undefined,
      undefined,
      undefined,
      'deploy complete',
    ];
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 5,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async (ms) => {
        w.clock.t += ms;
        const next = steps.shift();
        if (next) w.row.task_state = next;
      },
    });
    await expect(s.spawn(request)).resolves.toMatchObject({ task_state: 'active' });
  });

  it('a poll interval longer than the deadline: the wait still ends just past the deadline, not at the next poll', async () => {
    const w = world();
    const waits: number[] = [];
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 5,
      pollMs: 60_000,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async (ms, nodeId) => {
        expect(nodeId).toBe(7);
        waits.push(ms);
        w.clock.t += ms;
      },
    });
    await expect(s.spawn(request)).rejects.toThrow(/Timeout reached/);
    expect(waits).toEqual([5001]);
  });

  it('netboot unreachable: nothing half-done is left, the node is free again', async () => {
    const w = world({ fail: { prepareDeploy: 'RPC timeout: baremetal-netboot' } });
    await expect(spawner(w, []).spawn(request)).rejects.toThrow('RPC timeout: baremetal-netboot');
    expect(w.states).toEqual(['building', 'error', 'deleted']);
    expect(w.calls).toEqual(['prepareDeploy', 'powerOff', 'cleanDeploy']);
  });

  it('a failing netboot clean does not stop the release: the node is off', async () => {
    const w = world({ fail: { powerOn: 'BMC unreachable', cleanDeploy: 'netboot away' } });
    await expect(spawner(w, []).spawn(request)).rejects.toThrow('BMC unreachable');
    expect(w.calls.slice(-2)).toEqual(['powerOff', 'cleanDeploy']);
    expect(w.row.instance_uuid).toBeNull();
  });

  it('a failed power-off keeps the node in error with its instance (maybe on: not free); reconcile releases it once off', async () => {
    const fail: Partial<Record<keyof SpawnServices, string>> = {
      powerOn: 'BMC unreachable',
      powerOff: 'BMC unreachable',
    };
    const w = world({ fail });
    const s = spawner(w, []);
    await expect(s.spawn(request)).rejects.toThrow('BMC unreachable');
    expect(w.calls.slice(-2)).toEqual(['powerOff', 'cleanDeploy']); // the clean still ran
    expect([w.row.task_state, w.row.instance_uuid]).toEqual(['error', INSTANCE]);
    // The BMC still fails: nothing changes.
    expect(await s.reconcile(7, INSTANCE)).toBe(false);
    expect([w.row.task_state, w.row.instance_uuid]).toEqual(['error', INSTANCE]);
    // It answers again: powered off, cleaned, released.
    delete fail.powerOff;
    expect(await s.reconcile(7, INSTANCE)).toBe(true);
    expect(w.calls.slice(-2)).toEqual(['powerOff', 'cleanDeploy']);
    expect([w.row.task_state, w.row.instance_uuid]).toEqual(['deleted', null]);
    // A node that moved on meanwhile (another owner, another state) is left alone.
    expect(await s.reconcile(7, INSTANCE)).toBe(false);
  });

  it("reconcile of a node whose instance was rescheduled elsewhere: powered off and released, the PXE files (the other node's now) left alone", async () => {
    const fail: Partial<Record<keyof SpawnServices, string>> = {
      powerOn: 'BMC unreachable',
      powerOff: 'BMC unreachable',
    };
    const w = world({ fail });
    const s = spawner(w, []);
    await expect(s.spawn(request)).rejects.toThrow('BMC unreachable');
    w.rescheduled.value = true;
    delete fail.powerOff;
    const before = w.calls.length;
    expect(await s.reconcile(7, INSTANCE)).toBe(true);
    expect(w.calls.slice(before)).toEqual(['powerOff']);
    expect([w.row.task_state, w.row.instance_uuid]).toEqual(['deleted', null]);
  });

  it('a node already carrying an instance is refused before anything is touched', async () => {
    const w = world({ taken: true });
    await expect(spawner(w, []).spawn(request)).rejects.toThrow(NodeAssociated);
    expect(w.calls).toEqual([]);
    expect(w.row.instance_uuid).toBe('someone-else');
  });

  it('the node taken by another instance while waiting: fail, and leave that instance alone', async () => {
    const w = world();
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 600,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async () => {
        w.row.instance_uuid = 'intruder';
      },
    });
    await expect(s.spawn(request)).rejects.toThrow(/associated with another instance/);
    expect(w.row.instance_uuid).toBe('intruder');
    expect(w.calls).not.toContain('cleanDeploy');
  });

  it('the instance terminated while its deploy was awaited: InstanceNotFound (not a deploy failure to reschedule)', async () => {
    const w = world();
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 600,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async () => {
        Object.assign(w.row, { instance_uuid: null, task_state: 'deleted' });
      },
    });
    await expect(s.spawn(request)).rejects.toMatchObject({ name: 'InstanceNotFound' });
    expect(w.calls).not.toContain('cleanDeploy');
  });

  it('rebuild: the active instance deployed again on its own node, back to active; refused when not active', async () => {
    const w = world();
    await spawner(w, ['deploying', 'deploy complete']).spawn(request);
    const again = await spawner(w, ['deploying', 'deploy complete']).rebuild(
      { instanceUuid: INSTANCE, instanceName: 'bm-1', imageId: IMAGE_ID, images: IMAGES },
      true,
    );
    expect(again.task_state).toBe('active');
    expect(w.states.slice(-5)).toEqual(['building', 'prepared', 'deploying', 'deploy complete', 'active']);
    expect(w.calls.filter((c) => c === 'prepareDeploy')).toHaveLength(2);
    w.row.task_state = 'prepared';
    await expect(
      spawner(w, []).rebuild(
        { instanceUuid: INSTANCE, instanceName: 'bm-1', imageId: IMAGE_ID, images: IMAGES },
        false,
      ),
    ).rejects.toThrow(InvalidNodeStateTransition);
  });
});

describe('Spawner.resume (compute restarted during a spawn)', () => {
  const interrupted = (w: ReturnType<typeof world>, task_state: BmTaskState, enteredAgoMs = 0) => {
    Object.assign(w.row, { instance_uuid: INSTANCE, instance_name: 'bm-1', task_state });
    return { id: 7, instanceUuid: INSTANCE, task_state, enteredAgoMs };
  };

  it('prepared: waits for the deploy again, then active; nothing is prepared or powered twice', async () => {
    const w = world();
    const r = interrupted(w, 'prepared');
    await expect(spawner(w, ['deploying', 'deploy complete']).resume(r)).resolves.toMatchObject({
      task_state: 'active',
    });
    expect(w.states).toEqual(['deploying', 'deploy complete', 'active']);
    expect(w.calls).toEqual([]);
  });

  it('a database read that fails while waiting (a cut connection) is polled again, not a failed deploy', async () => {
    const w = world();
    const r = interrupted(w, 'deploying');
    const read = w.nodes.read;
    let failures = 2;
    w.nodes.read = async (id) => {
      if (failures-- > 0) throw new Error('terminating connection due to administrator command');
      return read(id);
    };
    await expect(spawner(w, ['deploying', 'deploying', 'deploy complete']).resume(r)).resolves.toMatchObject({
      task_state: 'active',
    });
    expect(w.calls).toEqual([]);
  });

  it('deploy complete over cut database connections: read and transition tried again, active once', async () => {
    const w = world();
    const r = interrupted(w, 'deploy complete');
    const cut = () =>
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const { read, transition } = w.nodes;
    let reads = 2;
    w.nodes.read = async (id) => {
      if (reads-- > 0) throw cut();
      return read(id);
    };
    // The first transition commits, then its connection is cut before the answer.
    let first = true;
    w.nodes.transition = async (...a) => {
      const row = await transition(...a);
      if (first) {
        first = false;
        throw cut();
      }
      return row;
    };
    await expect(spawner(w, []).resume(r)).resolves.toMatchObject({ task_state: 'active' });
    expect(w.states).toEqual(['active']);
    expect(w.calls).toEqual([]);
  });

  it('a cleanup whose reads keep failing still marks the node error (never left deploy complete)', async () => {
    const w = world();
    const r = interrupted(w, 'deploy complete');
    const t0 = w.clock.t;
    w.nodes.read = async () => {
      w.clock.t += 5_000; // each try takes time: the retries end
      throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    };
    await expect(spawner(w, []).resume(r)).rejects.toThrow(/Connection terminated/);
    expect(w.clock.t - t0).toBeGreaterThanOrEqual(30_000);
    expect(w.states[0]).toBe('error');
  });

  it('an error that is not a lost connection is not tried again', async () => {
    const w = world();
    const r = interrupted(w, 'deploy complete');
    let reads = 0;
    w.nodes.read = async () => {
      reads++;
      throw new Error('relation "bm_nodes" does not exist');
    };
    await expect(spawner(w, []).resume(r)).rejects.toThrow(/does not exist/);
    expect(reads).toBe(2); // activate's read, then cleanup's
  });

  it('the deadline counts from when the state was entered before the restart', async () => {
    const w = world();
    const r = interrupted(w, 'deploying', 4000);
    const waits: number[] = [];
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 5,
      pollMs: 60_000,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async (ms) => {
        waits.push(ms);
        w.clock.t += ms;
      },
    });
    await expect(s.resume(r)).rejects.toThrow(/Timeout reached/);
    expect(waits).toEqual([1001]);
    expect(w.states.slice(-2)).toEqual(['error', 'deleted']);
    expect(w.calls).toEqual(['powerOff', 'cleanDeploy']);
  });

  it('deploy complete: straight to active', async () => {
    const w = world();
    await expect(spawner(w, []).resume(interrupted(w, 'deploy complete'))).resolves.toMatchObject({
      task_state: 'active',
    });
    expect(w.states).toEqual(['active']);
  });

  it('building (cut off half-way) or deploy failed: cleaned up, the node released', async () => {
    for (const state of ['building', 'deploy failed'] as const) {
      const w = world();
      await expect(spawner(w, []).resume(interrupted(w, state))).rejects.toThrow(`interrupted in task_state ${state}`);
      expect(w.states).toEqual(['error', 'deleted']);
      expect(w.calls).toEqual(['powerOff', 'cleanDeploy']);
      expect(w.row.instance_uuid).toBeNull();
    }
  });
});

// What compute's metrics hear (bm_spawns_total, bm_spawn_phase_seconds).
describe('Spawner observer', () => {
  const observed = () => {
    const seen: string[] = [];
    const observer: SpawnObserver = {
      phase: (name, seconds) => void seen.push(`${name} ${seconds}`),
      ended: (outcome) => void seen.push(`ended ${outcome}`),
    };
    return { seen, observer };
  };

  it('a spawn that ends active: each phase with its time (on the clock), then the outcome', async () => {
    const w = world();
    const { seen, observer } = observed();
    // The helper sets deploying at the first poll (1 s), deploy complete at the next two (2 s later).
    await spawner(w, ['deploying', 'deploying', 'deploy complete'], 600, observer).spawn(request);
    expect(seen).toEqual(['prepare 0', 'power 0', 'pxe_boot 1', 'deploy 2', 'activate 0', 'ended active']);
  });

  it('a failed deploy: the phases done, no deploy phase, outcome failed', async () => {
    const w = world();
    const { seen, observer } = observed();
    await expect(spawner(w, ['deploying', 'deploy failed'], 600, observer).spawn(request)).rejects.toThrow();
    expect(seen).toEqual(['prepare 0', 'power 0', 'pxe_boot 1', 'ended failed']);
  });

  it('netboot unreachable: failed before any phase ended', async () => {
    const w = world({ fail: { prepareDeploy: 'netboot down' } });
    const { seen, observer } = observed();
    await expect(spawner(w, [], 600, observer).spawn(request)).rejects.toThrow('netboot down');
    expect(seen).toEqual(['ended failed']);
  });

  it('the instance deleted while its deploy was awaited: outcome deleted', async () => {
    const w = world();
    const { seen, observer } = observed();
    const s = new Spawner(w.nodes, w.services, {
      deployTimeoutS: 600,
      clock: { now: () => w.clock.t, sleep: async () => undefined },
      sleep: async () => void Object.assign(w.row, { instance_uuid: null, task_state: 'deleted' }),
      observer,
    });
    await expect(s.spawn(request)).rejects.toMatchObject({ name: 'InstanceNotFound' });
    expect(seen.at(-1)).toBe('ended deleted');
  });
});
