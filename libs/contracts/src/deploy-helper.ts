import { createHash } from 'node:crypto';
import { IsIP, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { type Validated, validateDto } from '@bm/core';
import { type AmqpConnection, JOBS_EXCHANGE, JobQueue, type JobQueueOptions } from '@bm/messaging';

/**
 * The deploy helper (apps/deploy-helper) serves no RPC of its own yet: the deploy ramdisk calls it
 * over HTTP on port 10000, and it tells compute of each deploy state through
 * `ComputeClient.deployStateChanged` (COMPUTE_BAREMETAL) after writing the row. Its durable job
 * queue is named here so that producers, the worker and `bmctl queues` agree.
 */
export const DEPLOY_JOBS = {
  /** Direct, durable exchange of durable work. */
  exchange: JOBS_EXCHANGE,
  /** Deploy jobs (the default of `[deploy_helper] job_queue`); dead letters go to `<queue>.dead`. */
  queue: 'baremetal.deploy',
} as const;

/** The port the deploy ramdisk posts its `i,k,a,n[,p,l,e]` request to (Nova's deploy helper). */
export const DEPLOY_CALLBACK_PORT = 10000;

/** The longest ramdisk error message a job carries (it is only logged). */
export const DEPLOY_JOB_MAX_ERROR = 1000;

/**
 * One deploy, as the callback queues it on DEPLOY_JOBS.queue: the node, the instance it is for,
 * and the iSCSI target the ramdisk exports. The deploy key itself never goes on the bus: the job
 * carries its SHA-256, so the worker can check the row still holds the key of this deploy (the
 * row, not the job, is the truth: a node destroyed or re-deployed meanwhile makes the job stale).
 */
export class DeployJob {
  @IsInt()
  @Min(1)
  @Max(2147483647)
  node_id!: number;

  @IsUUID()
  instance_uuid!: string;

  /** Lower-case hex SHA-256 of the deploy key (deployKeySha256). */
  @Matches(/^[0-9a-f]{64}$/)
  key_sha256!: string;

  /** The iSCSI portal: the node's address on the boot network (the ramdisk's `a`). */
  @IsIP(4)
  address!: string;

  @IsInt()
  @Min(1)
  @Max(65535)
  port!: number;

  @IsString()
  @MinLength(1)
  @MaxLength(223)
  iqn!: string;

  @IsInt()
  @Min(0)
  @Max(255)
  lun!: number;

  /** The ramdisk's `e` (its first error), when it sent one; logged, the deploy still runs (as in Nova). */
  @IsOptional()
  @IsString()
  @MaxLength(DEPLOY_JOB_MAX_ERROR)
  ramdisk_error?: string;
}

/** Lower-case hex SHA-256 of a deploy key: what a DeployJob carries instead of the key. */
export function deployKeySha256(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The job's AMQP message id, `<node_id>:<key_sha256>`: the same callback twice is the same job. */
export function deployJobId(job: Pick<DeployJob, 'node_id' | 'key_sha256'>): string {
  return `${job.node_id}:${job.key_sha256}`;
}

/** A received job's payload checked against DeployJob (unknown fields refused). */
export function parseDeployJob(payload: unknown): Validated<DeployJob> {
  return validateDto(DeployJob, payload);
}

/**
 * The deploy job queue (DEPLOY_JOBS): durable, persistent messages, publisher confirms, dead
 * letters in `baremetal.deploy.dead` (libs/messaging JobQueue).
 */
export class DeployJobs {
  readonly queue: JobQueue<DeployJob>;

  /** On `queue` (`[deploy_helper] job_queue`, default DEPLOY_JOBS.queue). */
  constructor(conn: AmqpConnection, opts: Omit<JobQueueOptions, 'queue' | 'exchange'> & { queue?: string } = {}) {
    this.queue = new JobQueue<DeployJob>(conn, {
      ...opts,
      queue: opts.queue ?? DEPLOY_JOBS.queue,
      exchange: DEPLOY_JOBS.exchange,
    });
  }

  /** Resolves once the broker has the job on disk; rejects when it could not take it. */
  publish(job: DeployJob): Promise<void> {
    return this.queue.publish({ ...job }, { messageId: deployJobId(job) });
  }
}

/**
 * The deploy helper's answers beyond Nova's (deploy-callback.ts has Nova's and the parsing ones),
 * text/plain, ASCII. Each refusal changes nothing.
 * - `not_from_node` 403: the request does not come from an address reserved for the node's MACs;
 * - `not_waiting` 409: the node is not `prepared` with an instance (also a second callback);
 * - `not_queued` 503: the broker did not take the job (nothing changed: the ramdisk may retry);
 * - `internal_error` 500: anything else (logged).
 */
export type DeployHelperAnswerKind = 'not_from_node' | 'not_waiting' | 'not_queued' | 'internal_error';

export interface DeployHelperAnswerDetail {
  nodeId?: number;
  /** not_from_node: where the request came from. */
  remoteAddress?: string;
  /** not_waiting: the row's task_state (null is NULL) and whether it carries an instance. */
  taskState?: string | null;
  hasInstance?: boolean;
}

/** The answer of each kind; the only place these answers' texts are written. */
export function deployHelperAnswer(
  kind: DeployHelperAnswerKind,
  d: DeployHelperAnswerDetail = {},
): { status: number; body: string } {
  switch (kind) {
    case 'not_from_node': {
      const from = d.remoteAddress ?? 'an unknown address';
      return { status: 403, body: `request from ${from} is not from an address reserved for node ${d.nodeId}` };
    }
    case 'not_waiting': {
      const state = d.taskState === null || d.taskState === undefined ? 'NULL' : d.taskState;
      const instance = d.hasInstance === false ? ', no instance' : '';
      return { status: 409, body: `node ${d.nodeId} is not waiting for a deploy (task_state ${state}${instance})` };
    }
    case 'not_queued':
      return { status: 503, body: 'the deploy could not be queued; try again' };
    case 'internal_error':
      return { status: 500, body: 'Internal Server Error' };
  }
}
