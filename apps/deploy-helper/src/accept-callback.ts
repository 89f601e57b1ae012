import { Injectable, Logger } from '@nestjs/common';
import {
  ComputeClient,
  DEPLOY_JOB_MAX_ERROR,
  type DeployCallback,
  type DeployCallbackAnswer,
  type DeployCallbackRequest,
  type DeployJob,
  DeployJobs,
  callbackAnswer,
  deployHelperAnswer,
  deployJobId,
  deployKeySha256,
  keysMatch,
  parseDeployCallback,
} from '@bm/contracts';
import { type DeployTargetRow, NodeEventRepository, NodeRepository } from '@bm/db';
import { BmState, InstanceNotFound, InvalidNodeStateTransition, NodeNotFound, NodeStateChanged } from '@bm/domain';

/** The ramdisk's HTTP request, as the server read it. */
export interface CallbackRequest extends DeployCallbackRequest {
  /** The peer's IPv4 address (IPv4-mapped IPv6 already unwrapped). */
  remoteAddress: string;
}

/** The answer, and what the log line says of it (never the key). */
export interface CallbackOutcome extends DeployCallbackAnswer {
  note: string;
}

/** The transition's refusals that mean "the row moved on": answered 409 (or as an unknown node). */
const MOVED_ON = [InvalidNodeStateTransition, NodeStateChanged, InstanceNotFound, NodeNotFound];

/**
 * The deploy ramdisk's callback (Nova's deploy helper's POST handler), up to a queued job:
 * a well-formed request (parseDeployCallback) for a node whose deploy key it carries, coming
 * from an address reserved for the node's MACs, while the node is `prepared` with an instance,
 * is queued as a DeployJob (durable, confirmed), then the node goes `deploying` and its compute
 * host is told (best effort: compute polls the row too). Every refusal changes nothing.
 * Publish before transition: a job whose transition then fails is stale and the worker drops it
 * (the row is not deploying with that key); a transition without a job would strand the node.
 * A callback naming a real node goes on its timeline (`deploy.callback`: accepted or refused,
 * from which address, why), without the answer waiting for it; one naming no node does not.
 */
@Injectable()
export class AcceptCallback {
  private readonly log = new Logger('deploy-callback');

  constructor(
    private readonly nodes: NodeRepository,
    private readonly jobs: DeployJobs,
    private readonly compute: ComputeClient,
    private readonly events: NodeEventRepository,
  ) {}

  async run(req: CallbackRequest): Promise<CallbackOutcome> {
    const parsed = parseDeployCallback(req);
    if (!parsed.ok) return { status: parsed.status, body: parsed.body, note: 'malformed request' };
    const cb = parsed.callback;

    const row = await this.nodes.deployTarget(cb.nodeId);
    // An unknown node is answered as a wrong key: the answer tells a prober nothing.
    if (!row) return { ...callbackAnswer('key_mismatch'), note: `node ${cb.nodeId} unknown` };
    const from = `from ${req.remoteAddress}`;
    try {
      const out = await this.answer(req, cb, row);
      this.onTimeline(
        row,
        out.status === 200
          ? `accepted ${from}: ${out.note}${cb.error ? `; the ramdisk reports: ${cb.error}` : ''}`
          : `refused ${from}: ${out.status} ${out.body} (${out.note})`,
      );
      return out;
    } catch (e) {
      this.onTimeline(row, `failed ${from}: ${(e as Error).message}`);
      throw e;
    }
  }

  /** The callback of the live node `row`, from its key on. */
  private async answer(req: CallbackRequest, cb: DeployCallback, row: DeployTargetRow): Promise<CallbackOutcome> {
    if (!keysMatch(row.deploy_key, cb.key))
      return { ...callbackAnswer('key_mismatch'), note: `node ${row.id}: wrong key` };

    const reserved = await this.nodes.reservedAddresses(row.id);
    if (!reserved.includes(req.remoteAddress)) {
      const answer = deployHelperAnswer('not_from_node', { nodeId: row.id, remoteAddress: req.remoteAddress });
      return { ...answer, note: `node ${row.id}: reserved ${reserved.join(', ') || 'none'}` };
    }
    if (cb.error) this.log.warn(`node ${row.id}: the deploy ramdisk reports an error: ${cb.error}`);

    const instance = row.instance_uuid;
    if (row.task_state !== BmState.PREPARED || !instance) {
      const d = { nodeId: row.id, taskState: row.task_state, hasInstance: !!instance };
      return { ...deployHelperAnswer('not_waiting', d), note: `node ${row.id}: not waiting` };
    }

    const job: DeployJob = {
      node_id: row.id,
      instance_uuid: instance,
      key_sha256: deployKeySha256(cb.key),
      address: cb.address,
      port: cb.port,
      iqn: cb.iqn,
      lun: cb.lun,
      ...(cb.error ? { ramdisk_error: cb.error.slice(0, DEPLOY_JOB_MAX_ERROR) } : {}),
    };
    try {
      await this.jobs.publish(job);
    } catch (e) {
      this.log.error(`node ${row.id}: deploy job not queued: ${(e as Error).message}`);
      return { ...deployHelperAnswer('not_queued'), note: `node ${row.id}: broker refused the job` };
    }

    try {
      await this.nodes.transition(row.id, instance, 'deploy_started');
    } catch (e) {
      if (!MOVED_ON.some((cls) => e instanceof cls)) throw e;
      // Another callback (or a destroy) won the row; the job just queued is stale: the worker drops it.
      const now = await this.nodes.read(row.id);
      const why = (e as Error).message;
      const note = `node ${row.id}: changed under the callback (${why}); job ${deployJobId(job)} stale`;
      if (!now) return { ...callbackAnswer('key_mismatch'), note };
      const d = { nodeId: row.id, taskState: now.task_state, hasInstance: !!now.instance_uuid };
      return { ...deployHelperAnswer('not_waiting', d), note };
    }

    if (row.service_host) {
      const args = { node_id: row.id, instance_uuid: instance, task_state: BmState.DEPLOYING };
      await this.compute.deployStateChanged(row.service_host, args).catch((e: unknown) => {
        this.log.warn(`node ${row.id}: deploy_state_changed to ${row.service_host} not sent: ${(e as Error).message}`);
      });
    }
    return {
      ...callbackAnswer('accepted'),
      note: `node ${row.id} instance ${instance}: deploying, job ${deployJobId(job)} queued (${cb.address}:${cb.port})`,
    };
  }

  /** Best effort, not awaited: a timeline that cannot be written changes no answer. */
  private onTimeline(row: DeployTargetRow, detail: string): void {
    const event = { nodeId: row.id, source: 'deploy-helper', kind: 'deploy.callback', detail } as const;
    void (async () => this.events.record({ ...event, instanceUuid: row.instance_uuid }))().catch((e: unknown) =>
      this.log.warn(`node ${row.id}: deploy.callback not written to the timeline: ${(e as Error).message}`),
    );
  }
}
