import { NovaBmError, currentRequestId, newRequestId } from '@bm/core';
import type { RpcClient, RpcContext } from '@bm/messaging';
import {
  NOVA_OBJECT_CHANGES,
  NOVA_OBJECT_DATA,
  type NovaObjectPrimitive,
  isNovaObject,
  novaObject,
} from './nova-objects';
import type { RpcSurface } from './surface';

/**
 * Nova's conductor as nova-compute uses it (nova/conductor/rpcapi.py, ConductorAPI 3.0): the
 * "indirection API" of Nova's objects. A compute host has no database access; every remotable
 * method of an object it holds (Service.create, Instance.save, …) runs on a conductor instead:
 *
 *   object_class_action_versions(objname, objmethod, object_versions, args, kwargs)
 *       a classmethod (Service.get_by_host_and_binary, …): the result, an object primitive or None;
 *   object_action(objinst, objmethod, args, kwargs)
 *       a method of an object (create, save, …) on its primitive: [updates, result], `updates`
 *       the fields the conductor changed (id, created_at, …) as primitives, plus
 *       `obj_what_changed`.
 *
 * We are the client only: the calls go to a real nova-conductor (topic `conductor`).
 */
export const CONDUCTOR = {
  topic: 'conductor',
  version: '3.0',
  methods: {
    objectClassActionVersions: 'object_class_action_versions',
    objectAction: 'object_action',
  },
} as const satisfies RpcSurface;

/**
 * The conductor's `compute_task` namespace (nova/conductor/rpcapi.py ComputeTaskAPI): where
 * nova-compute sends a failed build back for another host, with the alternates the conductor gave
 * it (`host_list`). 1.19 is the version that takes them (`host_lists`).
 */
export const COMPUTE_TASK = {
  topic: CONDUCTOR.topic,
  namespace: 'compute_task',
  version: '1.19',
  methods: { buildInstances: 'build_instances' },
} as const satisfies RpcSurface;

/** build_instances as nova-compute's reschedule sends it (ComputeTaskAPI.build_instances, 1.19). */
export interface BuildInstancesArgs {
  /** The instance primitives (nova-compute sends one: the instance it failed to build). */
  instances: NovaObjectPrimitive[];
  image: unknown;
  filter_properties: Record<string, unknown>;
  admin_password: unknown;
  injected_files: unknown;
  requested_networks: unknown;
  security_groups: unknown;
  block_device_mapping: unknown;
  request_spec: unknown;
  /** Per instance, the hosts left to try (Selection primitives): the first is tried next. */
  host_lists: unknown[][];
}

/**
 * The versions of Nova's objects we send, as Zed's nova-compute does (nova/objects/service.py,
 * SERVICE_VERSION 64): the conductor backports what it returns to these.
 */
export const NOVA_OBJECT_VERSIONS = { Service: '1.22', Instance: '2.7', InstanceFault: '1.2' } as const;
/** The compute service version we report (Zed's): Nova's API refuses hosts older than its minimum. */
export const NOVA_COMPUTE_SERVICE_VERSION = 64;

/** What a conductor's object_action answers. */
export interface ObjectActionResult {
  /** The fields it set or changed (primitives), e.g. `id` after create. */
  updates: Record<string, unknown>;
  result: unknown;
}

/**
 * The request context a compute host's calls carry: an admin context of its own, as nova-compute's
 * periodic work runs with (`context.get_admin_context()`), with the id of the request it works
 * for (libs/core's log context), or a fresh one outside any.
 */
export function adminContext(): RpcContext {
  return {
    is_admin: true,
    user_id: null,
    project_id: null,
    read_deleted: 'no',
    roles: ['admin'],
    // The request this work is for keeps its id across services (oslo's request_id); else a new one.
    request_id: currentRequestId() ?? newRequestId(),
  };
}

export class ConductorClient {
  constructor(
    private readonly rpc: RpcClient,
    /** Seconds a call may take (default: the RpcClient's). */
    private readonly timeoutS?: number,
  ) {}

  private call<T>(method: keyof typeof CONDUCTOR.methods, args: object): Promise<T> {
    return this.rpc.call<T>(
      { topic: CONDUCTOR.topic },
      CONDUCTOR.methods[method],
      { ...args },
      {
        version: CONDUCTOR.version,
        timeout: this.timeoutS,
        context: adminContext(),
      },
    );
  }

  /** A classmethod of `objname` run on the conductor; `objectVersions` are the versions we understand. */
  classAction(
    objname: keyof typeof NOVA_OBJECT_VERSIONS,
    objmethod: string,
    args: unknown[],
    kwargs: Record<string, unknown> = {},
  ): Promise<unknown> {
    return this.call('objectClassActionVersions', {
      objname,
      objmethod,
      object_versions: NOVA_OBJECT_VERSIONS,
      args,
      kwargs,
    });
  }

  /** `objinst.objmethod(*args, **kwargs)` run on the conductor. */
  async objectAction(
    objinst: NovaObjectPrimitive,
    objmethod: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
  ): Promise<ObjectActionResult> {
    const answer = await this.call<unknown>('objectAction', { objinst, objmethod, args, kwargs });
    // oslo's JSON turns the conductor's (updates, result) tuple into a list.
    if (!Array.isArray(answer) || answer.length !== 2 || typeof answer[0] !== 'object' || answer[0] === null)
      throw new TypeError(`conductor object_action ${objmethod}: unexpected answer ${JSON.stringify(answer)}`);
    return { updates: answer[0] as Record<string, unknown>, result: answer[1] };
  }
}

/** The conductor's compute_task namespace, as nova-compute calls it. */
export class ComputeTaskClient {
  constructor(private readonly rpc: RpcClient) {}

  /** A cast: the conductor builds the instance on the next host of its list, or fails it (MaxRetriesExceeded). */
  buildInstances(args: BuildInstancesArgs): Promise<void> {
    return this.rpc.cast(
      { topic: COMPUTE_TASK.topic },
      COMPUTE_TASK.methods.buildInstances,
      { ...args },
      {
        version: COMPUTE_TASK.version,
        namespace: COMPUTE_TASK.namespace,
        context: adminContext(),
      },
    );
  }
}

/** A Service object's fields (nova/objects/service.py) that a compute host keeps. */
export interface NovaServiceRecord {
  id?: number;
  host: string;
  binary: string;
  topic: string;
  report_count: number;
  disabled?: boolean;
  forced_down?: boolean;
  version: number;
}

/**
 * nova-compute's own `services` row, through the conductor: found or created at start, then its
 * report_count saved every report_interval (nova/servicegroup/drivers/db.py `_report_state`).
 */
export class NovaServiceReporter {
  private record?: NovaServiceRecord;

  constructor(
    private readonly conductor: ConductorClient,
    private readonly host: string,
    private readonly binary = 'nova-compute',
    private readonly topic = 'compute',
  ) {}

  /** The record as last read or saved. */
  get current(): NovaServiceRecord | undefined {
    return this.record;
  }

  /** One report: the first finds or creates the record; each saves report_count + 1. */
  async report(): Promise<NovaServiceRecord> {
    if (!this.record) this.record = await this.findOrCreate();
    const next = { ...this.record, report_count: this.record.report_count + 1 };
    const { updates } = await this.conductor.objectAction(this.primitive(next, ['report_count']), 'save');
    this.record = { ...next, ...pick(updates) };
    return this.record;
  }

  private async findOrCreate(): Promise<NovaServiceRecord> {
    const found = await this.conductor.classAction('Service', 'get_by_host_and_binary', [this.host, this.binary]);
    if (isNovaObject(found)) return pick(found[NOVA_OBJECT_DATA]) as NovaServiceRecord;
    const fresh: NovaServiceRecord = {
      host: this.host,
      binary: this.binary,
      topic: this.topic,
      report_count: 0,
      version: NOVA_COMPUTE_SERVICE_VERSION,
    };
    const { updates } = await this.conductor.objectAction(this.primitive(fresh), 'create');
    return { ...fresh, ...pick(updates) };
  }

  private primitive(r: NovaServiceRecord, changes?: string[]): NovaObjectPrimitive {
    const p = novaObject('Service', NOVA_OBJECT_VERSIONS.Service, { ...r });
    if (changes) p[NOVA_OBJECT_CHANGES] = changes;
    return p;
  }
}

/** The Service fields we keep, from a conductor's primitive data or updates. */
function pick(data: Record<string, unknown>): Partial<NovaServiceRecord> {
  const out: Record<string, unknown> = {};
  for (const k of ['id', 'host', 'binary', 'topic', 'report_count', 'disabled', 'forced_down', 'version'])
    if (data[k] !== undefined && data[k] !== null) out[k] = data[k];
  return out as Partial<NovaServiceRecord>;
}

/** What nova-compute changes on an instance as a build goes on (nova/compute/manager.py). */
export interface InstanceStateChange {
  vm_state?: string;
  task_state?: string | null;
  /** nova.compute.power_state: 0 NOSTATE, 1 RUNNING, 4 SHUTDOWN. */
  power_state?: number;
  host?: string | null;
  node?: string | null;
  launched_at?: Date | null;
  terminated_at?: Date | null;
}

/** An oslo DateTimeField primitive: ISO 8601 in UTC with a `Z`. */
const isoTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A Nova instance's state as nova-compute keeps it in Nova's database: `Instance.save` and
 * `InstanceFault.create` through the conductor, on the instance primitive as Nova sent it (its
 * fields at Nova's version are sent back untouched; only ours are marked changed).
 */
export class NovaInstances {
  constructor(private readonly conductor: ConductorClient) {}

  /**
   * `instance.save(expected_task_state=…)`: the change is written only while the instance's
   * task_state in Nova's database is one of `expected` (Nova's compare-and-swap; otherwise the
   * conductor raises UnexpectedTaskStateError, or InstanceNotFound once it was deleted). Returns
   * the instance as saved (the conductor's updates merged in).
   */
  async save(
    instance: NovaObjectPrimitive,
    change: InstanceStateChange,
    expected?: (string | null)[] | string | null,
  ): Promise<NovaObjectPrimitive> {
    const data: Record<string, unknown> = { ...instance[NOVA_OBJECT_DATA] };
    for (const [k, v] of Object.entries(change)) data[k] = v instanceof Date ? isoTime(v) : v;
    const objinst: NovaObjectPrimitive = {
      ...instance,
      [NOVA_OBJECT_DATA]: data,
      [NOVA_OBJECT_CHANGES]: Object.keys(change),
    };
    const kwargs = expected === undefined ? {} : { expected_task_state: expected };
    const { updates } = await this.conductor.objectAction(objinst, 'save', [], kwargs);
    const { obj_what_changed: _changed, ...fields } = updates;
    return { ...objinst, [NOVA_OBJECT_DATA]: { ...data, ...fields }, [NOVA_OBJECT_CHANGES]: [] };
  }

  /** `instance.destroy()`: Nova's row soft-deleted, once the instance is gone from its node. */
  async destroy(instance: NovaObjectPrimitive): Promise<void> {
    await this.conductor.objectAction({ ...instance, [NOVA_OBJECT_CHANGES]: [] }, 'destroy');
  }

  /**
   * An instance fault, as nova-compute's add_instance_fault_from_exc records one: `code` 500
   * unless the error says otherwise; the message of one of our errors (as Nova writes a
   * NovaException's formatted message), only the class name of any other (which could carry
   * details not meant for users, Nova's rule); no details (our stack stays in our logs).
   */
  async fault(instanceUuid: string, host: string, e: Error, code = 500): Promise<void> {
    const fault = novaObject('InstanceFault', NOVA_OBJECT_VERSIONS.InstanceFault, {
      instance_uuid: instanceUuid,
      host,
      code,
      message: (e instanceof NovaBmError ? e.message : e.name).slice(0, 255),
      details: '',
    });
    await this.conductor.objectAction(fault, 'create');
  }
}
