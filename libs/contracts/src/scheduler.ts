import { createHash } from 'node:crypto';
import { IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, MinLength, ValidateIf } from 'class-validator';
import { type FieldProblem, InvalidParameterValue, type ResourceDict, type SelectRequest } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import { NovaBuildArgs } from './nova-build-args';
import {
  type NovaObjectPrimitive,
  novaObject,
  readNovaObject,
  readNovaObjectList,
  readOptionalNovaObject,
} from './nova-objects';
import { flavorOf, retryOf } from './scheduler-request';
import { type RpcServerSpec, type RpcSurface, SurfaceClient } from './surface';

/**
 * Nova's scheduler RPC API (4.x) as our scheduler (apps/scheduler) serves it: compute hosts
 * report their nodes (fanout cast), callers ask where to build (call) or have it built (cast).
 * Our own callers send 4.0; the server answers up to 4.5, Zed's, so that a real Nova can call
 * select_destinations in every form its SchedulerAPI has sent (nova/scheduler/rpcapi.py):
 *   4.0-4.2  request_spec + filter_properties (legacy dicts; 4.1 and 4.2 only added other methods)
 *   4.3      spec_obj, a RequestSpec object
 *   4.4      + instance_uuids
 *   4.5      + return_objects, return_alternates: Selection objects instead of host dicts
 */
export const SCHEDULER = {
  topic: 'scheduler',
  version: '4.0',
  methods: {
    selectDestinations: 'select_destinations',
    runInstance: 'run_instance',
    updateServiceCapabilities: 'update_service_capabilities',
  },
} as const satisfies RpcSurface;

/** The newest scheduler RPC version served (Zed's SchedulerAPI sends at most 4.5). */
export const SCHEDULER_SERVED_VERSION = '4.5';

export const SCHEDULER_SERVER: RpcServerSpec = {
  topic: SCHEDULER.topic,
  endpoints: [{ version: SCHEDULER_SERVED_VERSION }],
};

/** The compute hosts' fanout report (Nova's update_service_capabilities): one dict per node. */
export class UpdateServiceCapabilitiesArgs {
  @IsIn(['compute'])
  service_name: string;

  @IsString()
  @MinLength(1)
  host: string;

  @IsArray()
  capabilities: unknown[];
}

/**
 * Nova's select_destinations, in any of its forms (SCHEDULER above): the legacy request_spec and
 * filter_properties dicts (4.0), or spec_obj (4.3+) with instance_uuids (4.4+) and return_objects,
 * return_alternates (4.5). One of request_spec and spec_obj is required; what is read inside them
 * is checked by `schedulingRequestOf`, only the fields read, strictly.
 */
export class SelectDestinationsArgs {
  @ValidateIf((a: SelectDestinationsArgs) => a.spec_obj === undefined || a.request_spec !== undefined)
  @IsObject()
  request_spec?: Record<string, unknown>;

  @IsOptional()
  @IsObject()
  filter_properties?: Record<string, unknown>;

  /** A RequestSpec object primitive (4.3+). */
  @IsOptional()
  @IsObject()
  spec_obj?: Record<string, unknown>;

  /** The instances to place (4.4+); null from a caller that has none (Nova then uses num_instances). */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  instance_uuids?: string[] | null;

  /** 4.5: answer a list of Selection objects per instance instead of one host dict per instance. */
  @IsOptional()
  @IsBoolean()
  return_objects?: boolean;

  /** 4.5: with return_objects, each instance's list goes on with alternates after the chosen host. */
  @IsOptional()
  @IsBoolean()
  return_alternates?: boolean;
}

/** Nova's scheduler run_instance (cast): pick nodes, cast run_instance to their compute hosts. */
export class SchedulerRunInstanceArgs extends NovaBuildArgs {
  @IsObject()
  request_spec: Record<string, unknown>;
}

/** The legacy answer, one per instance: Nova's `Selection.to_dict()` (a HostState dict before Queens). */
export interface Destination {
  host: string;
  nodename: string;
  limits: Record<string, never>;
}

/** select_destinations' answer: host dicts, or (return_objects) per instance a list of Selection primitives. */
export type SelectDestinationsResult = Destination[] | NovaObjectPrimitive[][];

// --- what a request asks for, whichever form it came in ---------------------------------------

/**
 * A placement request as the host manager takes it (flavor, count, the request's own limits), plus
 * the attempts already made, read from either form of select_destinations (or of run_instance).
 */
export interface SchedulingRequest extends SelectRequest {
  count: number;
  /** Builds already attempted for this request (retry.num_attempts): scheduler_max_attempts caps them. */
  attempts: number;
}

/** The limits common to both forms: ignore_hosts, force_hosts, force_nodes, requested_destination. */
function placeLimitsOf(
  from: Record<string, unknown>,
  where: string,
): Pick<SelectRequest, 'ignoreHosts' | 'forceHosts' | 'forceNodes' | 'destination'> {
  const problems: FieldProblem[] = [];
  const strings = (key: string): string[] | undefined => {
    const v = from[key];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    problems.push({ field: `${where}.${key}`, message: 'must be a list of strings' });
    return undefined;
  };
  const limits = {
    ignoreHosts: strings('ignore_hosts'),
    forceHosts: strings('force_hosts'),
    forceNodes: strings('force_nodes'),
    destination: destinationOf(from.requested_destination, `${where}.requested_destination`),
  };
  if (problems.length) throw new InvalidParameterValue(problems, 'Invalid request');
  return limits;
}

/**
 * A Destination object (requested_destination). As Nova's host manager, only one with a host
 * limits anything; its cell and aggregates are placement's business and are not read.
 */
function destinationOf(v: unknown, field: string): SelectRequest['destination'] {
  const d = readOptionalNovaObject(v, 'Destination', field);
  if (!d || typeof d.host !== 'string' || !d.host) return undefined;
  return { host: d.host, node: typeof d.node === 'string' && d.node ? d.node : undefined };
}

/** The legacy form (4.0, and run_instance): request_spec.instance_type, filter_properties' retry and limits. */
export function legacySchedulingRequest(
  requestSpec: Record<string, unknown>,
  filterProperties: Record<string, unknown>,
): SchedulingRequest {
  const retry = retryOf(filterProperties);
  return {
    flavor: flavorOf(requestSpec, filterProperties),
    count: typeof requestSpec.num_instances === 'number' ? requestSpec.num_instances : 1,
    attempts: retry.attempts,
    tried: retry.tried,
    ...placeLimitsOf(filterProperties, 'filter_properties'),
  };
}

/** A Flavor primitive, validated as the legacy instance_type is, its problems named under `field`. */
function specFlavorOf(v: unknown, field: string) {
  const data = readNovaObject(v, 'Flavor', field);
  try {
    return flavorOf({ instance_type: data }, {});
  } catch (e) {
    if (!(e instanceof InvalidParameterValue)) throw e;
    const renamed = e.problems.map((p) => ({ ...p, field: p.field.replace(/^request_spec\.instance_type/, field) }));
    throw new InvalidParameterValue(renamed, 'Invalid flavor');
  }
}

/** SchedulerRetries (spec_obj.retry) as the legacy retry dict: num_attempts, hosts as [host, node]. */
function specRetryOf(v: unknown, field: string): Record<string, unknown> {
  const r = readOptionalNovaObject(v, 'SchedulerRetries', field);
  if (!r) return {};
  const hosts =
    r.hosts === undefined || r.hosts === null
      ? []
      : readNovaObjectList(r.hosts, 'ComputeNodeList', 'ComputeNode', `${field}.hosts`).map((cn) => [
          cn.host,
          cn.hypervisor_hostname,
        ]);
  return { retry: { num_attempts: r.num_attempts, hosts } };
}

/**
 * The RequestSpec form (4.3+). Read: flavor (vcpus, memory_mb, root_gb, ephemeral_gb, swap,
 * extra_specs), num_instances (unless instance_uuids name the instances, as Nova's scheduler
 * prefers), retry, ignore_hosts, force_hosts, force_nodes, requested_destination. The rest
 * (image, numa_topology, pci_requests, instance_group, scheduler_hints, …) is not: a bare-metal
 * node is matched on the flavor and its extra specs.
 */
export function specSchedulingRequest(specObj: unknown, instanceUuids?: string[] | null): SchedulingRequest {
  const spec = readNovaObject(specObj, 'RequestSpec', 'spec_obj');
  const n = spec.num_instances;
  if (n !== undefined && n !== null && !(typeof n === 'number' && Number.isInteger(n) && n >= 1))
    throw new InvalidParameterValue([{ field: 'spec_obj.num_instances', message: 'must be an integer, 1 or more' }]);
  const retry = retryOf(specRetryOf(spec.retry, 'spec_obj.retry'));
  return {
    flavor: specFlavorOf(spec.flavor, 'spec_obj.flavor'),
    count: instanceUuids?.length ? instanceUuids.length : typeof n === 'number' ? n : 1,
    attempts: retry.attempts,
    tried: retry.tried,
    ...placeLimitsOf(spec, 'spec_obj'),
  };
}

/** Whichever form select_destinations came in, the one request the scheduler works on. */
export function schedulingRequestOf(a: SelectDestinationsArgs): SchedulingRequest {
  return a.spec_obj !== undefined
    ? specSchedulingRequest(a.spec_obj, a.instance_uuids)
    : legacySchedulingRequest(a.request_spec ?? {}, a.filter_properties ?? {});
}

// --- the answer as Selection objects (4.5) ---------------------------------------------------------

/** Versions of the objects a Selection holds: Zed's. */
export const SELECTION_VERSION = '1.1';
export const SCHEDULER_LIMITS_VERSION = '1.0';

/** A name-based (version 5, SHA-1) UUID, RFC 4122: the same name always gives the same uuid. */
export function uuid5(namespace: string, name: string): string {
  const h = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** RFC 4122's URL namespace. */
const NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The cell every node of ours is in. Nova's Selection names the cell of its compute node (its
 * conductor compares it with its own cell on a move); a nova-bm site is one cell without a cell
 * database, so a fixed uuid stands for it.
 */
export const NOVA_BM_CELL_UUID = uuid5(NAMESPACE_URL, 'urn:nova-bm:cell');

/** Nova's default_availability_zone: where a host in no availability-zone aggregate is. */
export const NOVA_DEFAULT_AVAILABILITY_ZONE = 'nova';

/**
 * The compute node uuid of a node: its nodename when that is a uuid (ours are, as Nova's Ironic
 * driver's: the node's uuid), else one derived from host and nodename, stable across calls.
 */
export function computeNodeUuid(host: string, nodename: string): string {
  return UUID_RE.test(nodename) ? nodename.toLowerCase() : uuid5(NAMESPACE_URL, `urn:nova-bm:node:${host}/${nodename}`);
}

/**
 * A Selection primitive for a node, as Nova's `Selection.from_host_state` builds it without
 * placement: no limits (SchedulerLimits with none set), allocation_request `"null"` (the JSON of
 * None), no allocation_request_version, the default availability zone.
 */
export function selectionOf(d: { host: string; nodename: string }): NovaObjectPrimitive {
  const limits = novaObject('SchedulerLimits', SCHEDULER_LIMITS_VERSION, {
    numa_topology: null,
    vcpu: null,
    disk_gb: null,
    memory_mb: null,
  });
  return novaObject('Selection', SELECTION_VERSION, {
    compute_node_uuid: computeNodeUuid(d.host, d.nodename),
    service_host: d.host,
    nodename: d.nodename,
    cell_uuid: NOVA_BM_CELL_UUID,
    limits,
    allocation_request: 'null',
    allocation_request_version: null,
    availability_zone: NOVA_DEFAULT_AVAILABILITY_ZONE,
  });
}

/** The scheduler, over the bus. */
export class SchedulerClient {
  private readonly c: SurfaceClient<typeof SCHEDULER.methods>;

  constructor(rpc: RpcClient, timeoutS?: number) {
    this.c = new SurfaceClient(rpc, SCHEDULER, timeoutS);
  }

  runInstance(args: SchedulerRunInstanceArgs): Promise<void> {
    return this.c.cast(undefined, 'runInstance', args);
  }

  selectDestinations(args: SelectDestinationsArgs): Promise<Destination[]> {
    return this.c.call(undefined, 'selectDestinations', args);
  }

  /** A compute host's resource report, to every scheduler. */
  updateServiceCapabilities(host: string, capabilities: ResourceDict[]): Promise<void> {
    return this.c.fanoutCast('updateServiceCapabilities', { service_name: 'compute', host, capabilities });
  }
}
