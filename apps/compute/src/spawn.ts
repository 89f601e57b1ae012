/**
 * BareMetalDriver.spawn, as the seed and Nova (Icehouse) run it, over ports so that it can be
 * tested without processes:
 *
 *   associate the instance with the node atomically      task_state building
 *   netboot.prepare_deploy (pxelinux config, images, a new deploy key)
 *   power: boot device PXE, off, on                       task_state prepared
 *   wait for the deploy helper (the database is the truth): deploying, then deploy complete,
 *     within pxe_deploy_timeout per waiting state        task_state active
 *     (the row is read every poll interval, at each deadline, and at once when the deploy
 *     helper's deploy_state_changed event wakes the wait)
 *
 * On any failure: task_state error (the instance stays associated while cleaning, so nobody else
 * takes the node), power off, netboot clean, deploy fields cleared, task_state deleted with the
 * association cleared; the error is re-raised so the caller can reschedule. When the power-off
 * fails the node may still be on: it stays in error, associated (as Nova's spawn left it when its
 * cleanup raised), and `reconcile` releases it later, once a power-off succeeds.
 *
 * A compute that restarts finds its interrupted spawns in the rows and takes each up where it
 * stopped (`resume`, as Nova's init_host looks at each instance): a node still waiting for its
 * deploy (prepared, deploying) is waited for again, against the deadline of the state it has
 * been in since before the restart; deploy complete becomes active; a spawn cut off while
 * building, or a failed deploy, is cleaned up and the node released.
 */
import type { BootImages, PrepareDeployResult } from '@bm/contracts';
import { type DeployDisk, type DeployFields, isConnectionLost } from '@bm/db';
import { type Clock, systemClock, withLogContext } from '@bm/core';
import {
  type BmTaskState,
  BmState,
  InstanceDeployFailure,
  InstanceNotFound,
  type NodeEvent,
  deadlineFor,
  waitOutcome,
} from '@bm/domain';
import { generateDeployKey } from '@bm/pxe';

export interface SpawnRequest {
  instanceUuid: string;
  instanceName: string;
  nodeUuid: string;
  /** The instance image's id: recorded in bm_nodes.image_path for the deploy helper. */
  imageId: string;
  images: BootImages;
  /** The flavor's root, swap and ephemeral sizes for the deploy helper; absent: the row's stay. */
  disk?: DeployDisk;
}

/** The node row as the spawn sees it. */
export interface SpawnNode {
  id: number;
  task_state: BmTaskState;
  instance_uuid: string | null;
}

/**
 * nova_bm access the spawn needs: NodeRepository's methods for this compute host (tests use a
 * map). Every task_state change is an event of the node state machine (libs/domain node-state).
 */
export interface SpawnNodes {
  /** Claims a free node of this host for the instance (task_state building); throws naming why not. */
  associate(nodeUuid: string, instanceUuid: string, instanceName: string): Promise<SpawnNode>;
  /** Rebuild: the instance's own node, active → building, with preserve_ephemeral recorded. */
  claimForRebuild(instanceUuid: string, preserveEphemeral: boolean): Promise<SpawnNode>;
  read(id: number): Promise<SpawnNode | undefined>;
  /** The deploy key, PXE config path, image id and disk sizes, recorded while the node is still building. */
  recordDeploy(id: number, instanceUuid: string, fields: DeployFields): Promise<void>;
  /**
   * Moves the node on by `event` if its row is still this instance's and in a state that allows
   * it; `why` goes on the node's timeline with the change.
   */
  transition(id: number, instanceUuid: string, event: NodeEvent, why?: string): Promise<SpawnNode>;
  /** Whether a live node other than `id` carries the instance (it was rescheduled there). */
  carriedElsewhere(instanceUuid: string, id: number): Promise<boolean>;
}

/** The other services, over the bus. */
export interface SpawnServices {
  prepareDeploy(
    nodeId: number,
    instanceUuid: string,
    images: BootImages,
    deployKey: string,
  ): Promise<PrepareDeployResult>;
  cleanDeploy(nodeId: number, instanceUuid: string): Promise<void>;
  setBootDevicePxe(nodeId: number): Promise<void>;
  powerOff(nodeId: number): Promise<void>;
  powerOn(nodeId: number): Promise<void>;
}

export interface SpawnOptions {
  /** `[baremetal] pxe_deploy_timeout` (s); 0 = no deadline. */
  deployTimeoutS: number;
  /** How often the row is read while no event comes (default 1000 ms, Nova's loop). */
  pollMs?: number;
  /** Deadlines are measured on it (default: the system clock). */
  clock?: Clock;
  /** Waits up to `ms` for news of the node (default: a plain timer; compute wakes it on events). */
  sleep?: (ms: number, nodeId: number) => Promise<void>;
  log?: (message: string) => void;
  /** Told of each phase's time and each spawn's end (compute's metrics). */
  observer?: SpawnObserver;
}

/**
 * The spawn's phases, timed: `prepare` (netboot's PXE files and images, the deploy recorded),
 * `power` (boot device, off, on), `pxe_boot` (prepared: until the deploy ramdisk called back),
 * `deploy` (deploying: until the deploy helper finished), `activate` (deploy complete → active).
 */
export type SpawnPhase = 'prepare' | 'power' | 'pxe_boot' | 'deploy' | 'activate';

/** How a spawn ended: the node `active`, `failed`, or `deleted` (its instance was deleted meanwhile). */
export type SpawnOutcome = 'active' | 'failed' | 'deleted';

export interface SpawnObserver {
  phase(name: SpawnPhase, seconds: number): void;
  ended(outcome: SpawnOutcome): void;
}

/** The deploy's waiting states as phases: each ends, done, when the row reaches the next state. */
const WAITING_PHASES: { from: BmTaskState; to: BmTaskState; phase: SpawnPhase }[] = [
  { from: BmState.PREPARED, to: BmState.DEPLOYING, phase: 'pxe_boot' },
  { from: BmState.DEPLOYING, to: BmState.DEPLOYDONE, phase: 'deploy' },
];

/** How long a spawn's database step is tried again over a lost connection. */
const DB_RETRY_MS = 30_000;

export class Spawner {
  private readonly clock: Clock;

  constructor(
    private readonly nodes: SpawnNodes,
    private readonly services: SpawnServices,
    private readonly o: SpawnOptions,
  ) {
    this.clock = o.clock ?? systemClock;
  }

  /** Runs the whole spawn; resolves once the node is active. */
  async spawn(r: SpawnRequest): Promise<SpawnNode> {
    const node = await this.nodes.associate(r.nodeUuid, r.instanceUuid, r.instanceName);
    // Every line of the deploy names the node it claimed.
    return withLogContext({ node_id: node.id }, () => this.deploy(r, node));
  }

  /**
   * Icehouse's rebuild: the same deploy again on the instance's own node (active → building);
   * `preserveEphemeral` is recorded for the deploy helper, which keeps the ephemeral partition.
   */
  async rebuild(r: Omit<SpawnRequest, 'nodeUuid'>, preserveEphemeral: boolean): Promise<SpawnNode> {
    return this.deploy(r, await this.nodes.claimForRebuild(r.instanceUuid, preserveEphemeral));
  }

  private async deploy(r: Omit<SpawnRequest, 'nodeUuid'>, node: SpawnNode): Promise<SpawnNode> {
    const log = this.o.log ?? (() => undefined);
    try {
      const key = generateDeployKey();
      await this.timed('prepare', async () => {
        const prepared = await this.services.prepareDeploy(node.id, r.instanceUuid, r.images, key);
        // The same fields again is harmless: tried again over a cut connection.
        await this.again(() =>
          this.nodes.recordDeploy(node.id, r.instanceUuid, {
            deploy_key: key,
            pxe_config_path: prepared.pxe_config_path,
            image_path: r.imageId,
            ...(r.disk ? { disk: r.disk } : {}),
          }),
        );
      });
      await this.timed('power', async () => {
        await this.services.setBootDevicePxe(node.id);
        await this.services.powerOff(node.id);
        await this.services.powerOn(node.id);
      });
      await this.transitionAgain(node.id, r.instanceUuid, 'prepared', BmState.PREPARED);
      await this.waitForDeploy(node.id, r.instanceUuid, log);
      const active = await this.activate(node.id, r.instanceUuid, log, '');
      this.o.observer?.ended('active');
      return active;
    } catch (e) {
      this.o.observer?.ended(e instanceof InstanceNotFound ? 'deleted' : 'failed');
      log(`spawn of ${r.instanceUuid} on node ${node.id} failed: ${(e as Error).message}; cleaning up`);
      await this.cleanUp(node.id, r.instanceUuid, log, (e as Error).message);
      throw e;
    }
  }

  /** Runs `fn` and tells the observer how long the phase took (when it succeeded). */
  private async timed<T>(phase: SpawnPhase, fn: () => Promise<T>): Promise<T> {
    const t0 = this.clock.now();
    const v = await fn();
    this.o.observer?.phase(phase, (this.clock.now() - t0) / 1000);
    return v;
  }

  /**
   * Takes up a spawn interrupted by a restart: resolves with the node once active; rejects (after
   * cleaning up and releasing the node) when the spawn cannot go on.
   */
  async resume(r: InterruptedSpawn): Promise<SpawnNode> {
    const log = this.o.log ?? (() => undefined);
    const now = () => this.clock.now();
    try {
      if (r.task_state === BmState.PREPARED || r.task_state === BmState.DEPLOYING) {
        await this.waitForDeploy(r.id, r.instanceUuid, log, {
          state: r.task_state,
          enteredAt: new Date(now() - r.enteredAgoMs),
        });
      } else if (r.task_state !== BmState.DEPLOYDONE) {
        throw new InstanceDeployFailure(
          `the spawn of instance ${r.instanceUuid} was interrupted in task_state ${String(r.task_state)}`,
        );
      }
      const active = await this.activate(r.id, r.instanceUuid, log, ' (resumed after a restart)');
      this.o.observer?.ended('active');
      return active;
    } catch (e) {
      this.o.observer?.ended(e instanceof InstanceNotFound ? 'deleted' : 'failed');
      log(`resumed spawn of ${r.instanceUuid} on node ${r.id} failed: ${(e as Error).message}; cleaning up`);
      if (!(e instanceof InstanceNotFound)) await this.cleanUp(r.id, r.instanceUuid, log, (e as Error).message);
      throw e;
    }
  }

  /** deploy complete → active, from the row as it is now (still this instance's, or InstanceNotFound). */
  private async activate(id: number, instance: string, log: (m: string) => void, how: string): Promise<SpawnNode> {
    const active = await this.timed('activate', async () => {
      const row = await this.again(() => this.nodes.read(id));
      if (row?.instance_uuid !== instance) throw new InstanceNotFound(instance);
      return this.transitionAgain(id, instance, 'activated', BmState.ACTIVE);
    });
    log(`instance ${instance} active on node ${id}${how}`);
    return active;
  }

  /** Nova's activate_node poll: the row decides; each waiting state has its own deadline. */
  private async waitForDeploy(
    id: number,
    instance: string,
    log: (m: string) => void,
    from?: { state: BmTaskState; enteredAt: Date },
  ): Promise<void> {
    const now = () => this.clock.now();
    const sleep = this.o.sleep ?? ((ms: number) => this.clock.sleep(ms));
    const pollMs = this.o.pollMs ?? 1000;
    let seen: BmTaskState = from?.state ?? BmState.PREPARED;
    let enteredAt = from?.enteredAt ?? new Date(now());
    let started = false;
    let deadline: Date | undefined;
    let readFailing = false;
    for (;;) {
      let row: Awaited<ReturnType<SpawnNodes['read']>>;
      try {
        row = await this.nodes.read(id);
      } catch (e) {
        // A lost database connection (a restart, a fail-over, a connection cut) is not the
        // deploy's failure: poll on, up to the deadline known from the last read.
        if (deadline !== undefined && now() > deadline.getTime())
          throw new InstanceDeployFailure(`cannot read node ${id} past its deadline: ${(e as Error).message}`);
        if (!readFailing) log(`node ${id}: cannot read its row (${(e as Error).message}); polling on`);
        readFailing = true;
        await sleep(pollMs, id);
        continue;
      }
      readFailing = false;
      // terminate_instance released the node while we waited: the instance is gone, not failed.
      if (row && row.instance_uuid === null) throw new InstanceNotFound(instance);
      if (row && row.task_state !== seen) {
        // A waiting state left for the next one is a phase done (pxe_boot, deploy).
        const done = WAITING_PHASES.find((p) => p.from === seen && p.to === row.task_state);
        if (done) this.o.observer?.phase(done.phase, (now() - enteredAt.getTime()) / 1000);
        seen = row.task_state;
        enteredAt = new Date(now());
      }
      deadline = row ? deadlineFor(row.task_state, enteredAt, this.o.deployTimeoutS) : undefined;
      const outcome = waitOutcome(
        row && { task_state: row.task_state, instance_uuid: row.instance_uuid },
        instance,
        deadline !== undefined && now() > deadline.getTime(),
      );
      if (outcome.kind === 'done') return;
      if (outcome.kind === 'failed') throw new InstanceDeployFailure(outcome.reason);
      if (outcome.started && !started) {
        started = true;
        log(`PXE deploy started for instance ${instance}`);
      }
      // Until the next poll, or just past the deadline if that comes first.
      const untilDeadline = deadline ? deadline.getTime() - now() + 1 : Infinity;
      await sleep(Math.max(1, Math.min(pollMs, untilDeadline)), id);
    }
  }

  private async cleanUp(id: number, instance: string, log: (m: string) => void, why: string): Promise<void> {
    // A read that fails even after a cut connection's retries must not pass for "not ours":
    // the node would be left in a transient state with nobody to move it on.
    const row = await this.again(() => this.nodes.read(id)).catch((e: Error) => {
      log(`cleanup of node ${id}: cannot read its row (${e.message}); marking it error anyway`);
      return { instance_uuid: instance };
    });
    if (row?.instance_uuid !== instance) return; // not ours any more: leave it alone
    await this.transitionAgain(id, instance, 'failed', BmState.ERROR, why).catch((e: Error) =>
      log(`cannot mark node ${id} error: ${e.message}`),
    );
    if (!(await this.powerOffAndClean(id, instance, log))) {
      log(
        `node ${id} stays in error with instance ${instance}: it may be powered on; released once a power-off succeeds`,
      );
      return;
    }
    await this.transitionAgain(id, instance, 'cleaned', null);
  }

  /**
   * A database step tried again while its error is a lost connection (a restart of PostgreSQL,
   * pg_terminate_backend, a network cut), for up to DB_RETRY_MS: the pool reconnects meanwhile.
   * Only for steps that are safe to repeat (reads, and writes of the same values).
   */
  private async again<T>(step: () => Promise<T>): Promise<T> {
    const until = this.clock.now() + DB_RETRY_MS;
    for (;;) {
      try {
        return await step();
      } catch (e) {
        if (!isConnectionLost(e) || this.clock.now() >= until) throw e;
        await this.clock.sleep(Math.min(this.o.pollMs ?? 1000, 1000));
      }
    }
  }

  /**
   * A state transition (a compare-and-set on the row) that a cut connection does not fail: one
   * whose connection was cut may have committed all the same, so before it is tried again, and
   * when the retry is refused, the row is read: already in `to` with the instance (or released,
   * `to` null), it went through.
   */
  private async transitionAgain(
    id: number,
    instance: string,
    event: Parameters<SpawnNodes['transition']>[2],
    to: BmTaskState | null,
    why?: string,
  ): Promise<SpawnNode> {
    const done = (row: Awaited<ReturnType<SpawnNodes['read']>>) =>
      to === null
        ? row !== undefined && row.instance_uuid !== instance
        : row?.instance_uuid === instance && row.task_state === to;
    let cut = false;
    return this.again(async () => {
      if (cut) {
        const row = await this.nodes.read(id);
        if (row && done(row)) return row;
      }
      try {
        return await this.nodes.transition(id, instance, event, why);
      } catch (e) {
        if (isConnectionLost(e)) cut = true;
        throw e;
      }
    });
  }

  /**
   * Power off, then netboot clean (a failure of either is logged, the other still runs); true
   * when the node is known to be off, the one condition for handing it to another instance.
   */
  private async powerOffAndClean(id: number, instance: string, log: (m: string) => void): Promise<boolean> {
    const off = await this.services.powerOff(id).then(
      () => true,
      (e: Error) => (log(`cleanup of node ${id}: power off failed: ${e.message}`), false),
    );
    await this.services
      .cleanDeploy(id, instance)
      .catch((e: Error) => log(`cleanup of node ${id}: netboot clean failed: ${e.message}`));
    return off;
  }

  /**
   * A node left in error with its instance (a spawn whose cleanup could not power it off, a
   * destroy that failed): power off and netboot clean again; once the power-off succeeds the
   * node is released (`cleaned`). Resolves true when released, false when still in error. The
   * PXE files are left alone while the instance is on another node: they are its files now
   * (the failed spawn's cleanup removed this node's before the instance was rescheduled).
   */
  async reconcile(id: number, instance: string): Promise<boolean> {
    const log = this.o.log ?? (() => undefined);
    const row = await this.nodes.read(id);
    if (row?.instance_uuid !== instance || row.task_state !== BmState.ERROR) return false; // moved on meanwhile
    if (await this.nodes.carriedElsewhere(instance, id)) {
      const off = await this.services.powerOff(id).then(
        () => true,
        (e: Error) => (log(`reconcile of node ${id}: power off failed: ${e.message}`), false),
      );
      if (!off) return false;
    } else if (!(await this.powerOffAndClean(id, instance, log))) return false;
    await this.nodes.transition(id, instance, 'cleaned', 'powered off by the reconciler');
    log(`node ${id}: powered off and released (instance ${instance} was left on it in error)`);
    return true;
  }
}

/** A spawn in flight when compute stopped, as its row shows it. */
export interface InterruptedSpawn {
  id: number;
  instanceUuid: string;
  task_state: BmTaskState;
  /** How long ago the row entered its current state (its updated_at). */
  enteredAgoMs: number;
}
