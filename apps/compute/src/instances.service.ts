import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isAbsolute } from 'node:path';
import type { DataSource } from 'typeorm';
import type { BmConfig } from '@bm/config';
import {
  type BmTaskState,
  BmState,
  Conflict,
  type FieldProblem,
  InstanceNotFound,
  InvalidParameterValue,
  deployTimeoutWarning,
  legacyInstancePayload,
  transition,
  unwrapObject,
} from '@bm/domain';
import { Notifier, RpcClient } from '@bm/messaging';
import { BM_CONFIG } from '@bm/service';
import { RpcSpawnServices, SqlSpawnNodes } from './spawn-adapters';
import { DeployWaits } from './deploy-waits';
import { type SpawnImages, type SpawnNode, Spawner } from './spawn';
import { ResourceReporter } from './resource-reporter';

/** What compute needs from Nova's instance (plain dict or versioned-object primitive). */
export interface InstanceRef {
  uuid: string;
  name: string;
  /** The instance's fields as sent (the primitive's data), for the notification payloads. */
  fields: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function instanceRef(raw: Record<string, unknown>): InstanceRef {
  const data = unwrapObject(raw) as Record<string, unknown>;
  const uuid = data.uuid;
  if (typeof uuid !== 'string' || !UUID.test(uuid))
    throw new InvalidParameterValue([{ field: 'instance.uuid', message: 'must be a UUID' }], 'Invalid instance');
  const name =
    [data.hostname, data.display_name, data.name].find((v): v is string => typeof v === 'string' && v.length > 0) ??
    `instance-${uuid}`;
  return { uuid, name, fields: data };
}

/**
 * Nova's vm_state and task_state while each announced step runs (start) and after it (end), as
 * the legacy compute.instance.* notifications carry them (payload `state`, `state_description`).
 */
const STEPS = {
  create: { start: ['building', 'spawning'], end: ['active', null] },
  delete: { start: ['active', 'deleting'], end: ['deleted', null] },
  reboot: { start: ['active', 'rebooting'], end: ['active', null] },
  power_off: { start: ['active', 'powering-off'], end: ['stopped', null] },
  power_on: { start: ['stopped', 'powering-on'], end: ['active', null] },
  rebuild: { start: ['active', 'rebuilding'], end: ['active', null] },
} as const satisfies Record<string, Record<'start' | 'end', readonly [string, string | null]>>;
type Step = keyof typeof STEPS;

export function spawnImages(image: Record<string, unknown>, config: BmConfig): SpawnImages {
  const pick = (k: keyof SpawnImages, fallback?: string) => {
    const v = image[k] ?? fallback;
    return typeof v === 'string' && isAbsolute(v) ? v : undefined;
  };
  const images = {
    kernel: pick('kernel'),
    ramdisk: pick('ramdisk'),
    deploy_kernel: pick('deploy_kernel', config.baremetal.deploy_kernel),
    deploy_ramdisk: pick('deploy_ramdisk', config.baremetal.deploy_ramdisk),
  };
  const problems: FieldProblem[] = Object.entries(images)
    .filter(([, v]) => v === undefined)
    .map(([k]) => ({ field: `image.${k}`, message: 'must be an absolute path on the compute host' }));
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid image');
  return images as SpawnImages;
}

/**
 * The instance side of the BareMetalDriver: spawn (run_instance). Each spawn announces itself
 * with Nova's legacy notifications compute.instance.create.{start,end,error}.
 */
@Injectable()
export class InstancesService implements OnApplicationBootstrap {
  private readonly log = new Logger('instances');
  private readonly spawner: Spawner;

  private readonly services: RpcSpawnServices;
  private readonly nodes: SqlSpawnNodes;
  /** Spawns waiting on a deploy, woken by the deploy helper's events and by terminate. */
  private readonly waits = new DeployWaits();

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @InjectDataSource() private readonly ds: DataSource,
    private readonly rpc: RpcClient,
    private readonly notifier: Notifier,
    private readonly resources: ResourceReporter,
  ) {
    const host = config.default.host;
    this.services = new RpcSpawnServices(rpc, host, config.default.rpc_response_timeout);
    this.nodes = new SqlSpawnNodes(ds, host);
    this.spawner = new Spawner(this.nodes, this.services, {
      deployTimeoutS: config.baremetal.pxe_deploy_timeout,
      pollMs: config.baremetal.deploy_poll_interval * 1000,
      sleep: (ms, nodeId) => this.waits.wait(nodeId, ms),
      log: (m) => this.log.log(m),
    });
  }

  onApplicationBootstrap(): void {
    const warning = deployTimeoutWarning(this.config.baremetal.pxe_deploy_timeout);
    if (warning) this.log.warn(warning);
    void this.resumeInterrupted().catch((e: Error) =>
      this.log.error(`cannot look for interrupted spawns: ${e.message}`),
    );
  }

  /**
   * Nova's init_host for bare metal: the spawns this host was running when it stopped are in the
   * rows (building … deploy complete/failed with an instance); each is taken up where it stopped
   * (Spawner.resume) and ends with compute.instance.create.end or .error, as it would have.
   */
  async resumeInterrupted(): Promise<number> {
    const rows: {
      id: number;
      uuid: string;
      instance_uuid: string;
      instance_name: string | null;
      task_state: BmTaskState;
      ago_ms: number;
    }[] = await this.ds.query(
      `SELECT id, uuid, instance_uuid, instance_name, task_state,
              greatest(0, extract(epoch FROM (now() AT TIME ZONE 'UTC' - coalesce(updated_at, created_at))) * 1000)::float8 AS ago_ms
         FROM bm_nodes
        WHERE service_host = $1 AND deleted = false AND instance_uuid IS NOT NULL AND task_state = ANY($2)
        ORDER BY id`,
      [
        this.config.default.host,
        [BmState.BUILDING, BmState.PREPARED, BmState.DEPLOYING, BmState.DEPLOYDONE, BmState.DEPLOYFAIL],
      ],
    );
    for (const r of rows) {
      this.log.warn(
        `node ${r.id}: the spawn of ${r.instance_uuid} was interrupted in '${String(r.task_state)}'; taking it up`,
      );
      const instance: InstanceRef = {
        uuid: r.instance_uuid,
        name: r.instance_name ?? r.instance_uuid,
        fields: { uuid: r.instance_uuid, display_name: r.instance_name },
      };
      const resume = () =>
        this.spawner.resume({
          id: r.id,
          instanceUuid: r.instance_uuid,
          task_state: r.task_state,
          enteredAgoMs: Number(r.ago_ms),
        });
      void this.notified('create', instance, resume, { node: r.uuid, resumed: true }).catch(() => undefined); // the outcome is logged and notified
    }
    return rows.length;
  }

  /** `flavor`: the flavor sent beside the instance (request_spec.instance_type), for the payloads. */
  async spawn(instance: InstanceRef, nodeUuid: string, images: SpawnImages, flavor?: unknown): Promise<SpawnNode> {
    return this.notified(
      'create',
      instance,
      () => this.spawner.spawn({ instanceUuid: instance.uuid, instanceName: instance.name, nodeUuid, images }),
      { node: nodeUuid, flavor },
    );
  }

  /**
   * The deploy helper's deploy_state_changed: the spawn waiting on that node re-reads its row now
   * (the row decides; the event only saves the wait for the next poll).
   */
  deployStateChanged(nodeId: number, instanceUuid: string, taskState: BmTaskState): void {
    const woken = this.waits.wake(nodeId);
    this.log.debug(`deploy of ${instanceUuid} on node ${nodeId}: ${String(taskState)} (${woken} spawn(s) woken)`);
  }

  /** Icehouse's rebuild_instance: the deploy again on the same node, preserving ephemeral if asked. */
  async rebuild(instance: InstanceRef, images: SpawnImages, preserveEphemeral: boolean): Promise<SpawnNode> {
    const node = await this.nodeOf(instance).then(
      (n) => n.uuid,
      () => undefined,
    ); // for the payloads; the claim decides
    return this.notified(
      'rebuild',
      instance,
      () =>
        this.spawner.rebuild({ instanceUuid: instance.uuid, instanceName: instance.name, images }, preserveEphemeral),
      { node },
    );
  }

  /** The node carrying `instance` on this host (Nova: "sent to wrong service host" → InstanceNotFound). */
  private async nodeOf(
    instance: InstanceRef,
  ): Promise<{ id: number; uuid: string; task_state: string | null; cpus: number; memory_mb: number }> {
    const [n] = await this.ds.query(
      `SELECT id, uuid, task_state, cpus, memory_mb FROM bm_nodes WHERE instance_uuid = $1 AND service_host = $2 AND deleted = false`,
      [instance.uuid, this.config.default.host],
    );
    if (!n) throw new InstanceNotFound(instance.uuid);
    return n;
  }

  /**
   * Runs `work` between compute.instance.<step>.start and .end (or .error, re-raising), each with
   * Nova's legacy payload. `.end` of create says `message: Success` and stamps launched_at (as
   * rebuild does); delete stamps terminated_at and deleted_at; `.error` adds the error's message
   * and name (`exception`), with state `error`. A step that takes or frees a node (create,
   * delete, rebuild) is followed by a resource report, whatever its outcome.
   */
  private async notified<T>(
    step: Step,
    instance: InstanceRef,
    work: () => Promise<T>,
    on: { node?: string; flavor?: unknown; resumed?: boolean } = {},
  ): Promise<T> {
    const payload = (
      vmState: string,
      taskState: string | null,
      extra: Record<string, unknown> = {},
      times: { launched_at?: Date; terminated_at?: Date; deleted_at?: Date } = {},
    ) => ({
      ...legacyInstancePayload(instance.fields, {
        host: this.config.default.host,
        node: on.node,
        flavor: on.flavor,
        vm_state: vmState,
        task_state: taskState,
        ...times,
      }),
      ...extra,
    });
    const [startState, startTask] = STEPS[step].start;
    // A resumed step announced its start before the restart.
    if (!on.resumed) await this.notifier.info(`compute.instance.${step}.start`, payload(startState, startTask));
    let r: T;
    try {
      r = await work();
    } catch (e) {
      await this.notifier.error(
        `compute.instance.${step}.error`,
        payload('error', null, { message: (e as Error).message, exception: (e as Error).name }),
      );
      throw e;
    } finally {
      if (step === 'create' || step === 'delete' || step === 'rebuild') void this.resources.report('instance changed');
    }
    const [endState, endTask] = STEPS[step].end;
    const now = new Date();
    const times =
      step === 'delete'
        ? { terminated_at: now, deleted_at: now }
        : step === 'create' || step === 'rebuild'
          ? { launched_at: now }
          : {};
    await this.notifier.info(
      `compute.instance.${step}.end`,
      payload(endState, endTask, step === 'create' ? { message: 'Success' } : {}, times),
    );
    return r;
  }

  /**
   * BareMetalDriver.destroy: power off, PXE files removed, deploy fields cleared, task_state deleted
   * and the node released. On failure the node goes to error and stays associated (nobody else
   * can take a node in an unknown state). An instance on no node of this host: warned, done.
   */
  async destroy(instance: InstanceRef): Promise<{ node: string | null }> {
    const n = await this.nodeOf(instance).catch((e: unknown) => {
      if (e instanceof InstanceNotFound) return undefined;
      throw e;
    });
    if (!n) {
      this.log.warn(`destroy: instance ${instance.uuid} is on no node of this host`);
      return { node: null };
    }
    transition(n.task_state as BmTaskState, 'destroyed'); // refuses a node whose spawn has not begun
    return this.notified(
      'delete',
      instance,
      async () => {
        try {
          await this.services.powerOff(n.id);
          await this.services.cleanDeploy(n.id, instance.uuid);
          await this.nodes.release(n.id, instance.uuid);
          this.waits.wake(n.id); // a spawn still waiting on this node learns at once that it is gone
        } catch (e) {
          await this.ds.query(`UPDATE bm_nodes SET task_state = $3 WHERE id = $1 AND instance_uuid = $2`, [
            n.id,
            instance.uuid,
            BmState.ERROR,
          ]);
          throw e;
        }
        return { node: n.uuid };
      },
      { node: n.uuid },
    );
  }

  /** BareMetalDriver.reboot (soft and hard alike): off, boot device PXE, on; task_state stays active. */
  async reboot(instance: InstanceRef): Promise<{ node: string; task_state: string }> {
    const n = await this.nodeOf(instance);
    const to = transition(n.task_state as BmTaskState, 'reboot');
    return this.notified(
      'reboot',
      instance,
      async () => {
        const r = await this.rpc.call<{ power_state: string }>(
          { topic: 'baremetal-power', server: this.config.default.host },
          'reboot',
          { node: n.id },
          { version: '1.0', timeout: this.config.default.rpc_response_timeout },
        );
        if (r.power_state !== 'on')
          throw new Conflict(
            `Node ${n.uuid} did not come back on after the reboot (${r.power_state})`,
            'InstanceRebootFailure',
          );
        return { node: n.uuid, task_state: String(to) };
      },
      { node: n.uuid },
    );
  }

  /** power_on / power_off: the power service only; task_state is not touched (as Nova). */
  async power(instance: InstanceRef, on: boolean): Promise<{ node: string; power_state: string }> {
    const n = await this.nodeOf(instance);
    return this.notified(
      on ? 'power_on' : 'power_off',
      instance,
      async () => {
        if (on) await this.services.powerOn(n.id);
        else await this.services.powerOff(n.id);
        return { node: n.uuid, power_state: on ? 'on' : 'off' };
      },
      { node: n.uuid },
    );
  }

  /** BareMetalDriver.get_info: Nova power_state codes (1 RUNNING, 4 SHUTDOWN, 0 NOSTATE) and the node's size. */
  async info(
    instance: InstanceRef,
  ): Promise<{ state: number; max_mem: number; mem: number; num_cpu: number; cpu_time: number }> {
    const n = await this.nodeOf(instance);
    const r = await this.rpc
      .call<{ power_state: string }>(
        { topic: 'baremetal-power', server: this.config.default.host },
        'get_power_state',
        { node: n.id },
        { version: '1.0', timeout: this.config.default.rpc_response_timeout },
      )
      .catch(() => ({ power_state: 'unknown' }));
    const state = r.power_state === 'on' ? 1 : r.power_state === 'off' ? 4 : 0;
    return { state, max_mem: n.memory_mb, mem: n.memory_mb, num_cpu: n.cpus, cpu_time: 0 };
  }

  /** BareMetalDriver.list_instances: the instance names on this host's nodes. */
  async list(): Promise<string[]> {
    const rows: { instance_name: string | null; instance_uuid: string }[] = await this.ds.query(
      `SELECT instance_name, instance_uuid FROM bm_nodes WHERE service_host = $1 AND deleted = false AND instance_uuid IS NOT NULL ORDER BY id`,
      [this.config.default.host],
    );
    return rows.map((r) => r.instance_name ?? r.instance_uuid);
  }
}
