import { type BeforeApplicationShutdown, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DEPLOY_JOBS, parseDeployJob } from '@bm/contracts';
import { type AmqpConnection, JobQueue, PermanentJobError, timerMs } from '@bm/messaging';
import type { DeployNode } from './deploy-node';

/** How long shutdown waits for the deploys running when no grace is configured. */
const DEFAULT_STOP_TIMEOUT_MS = 30_000;
/** How long abandoned deploys get to unwind once their LUNs are detached. */
const ABANDON_WAIT_MS = 10_000;

/** A job the worker refuses to run: the queue dead-letters it at once with this reason. */
export class InvalidDeployJob extends PermanentJobError {
  override readonly name = 'InvalidDeployJob';
}

export interface DeployWorkerOptions {
  /** Deploys run at once (`[deploy_helper] deploy_workers`); 0 = consume nothing. */
  prefetch: number;
  /** Attempts before a throwing job is dead-lettered (JobQueue default 3). */
  maxAttempts?: number;
  retryDelayMs?: number;
  /** The queue consumed (default DEPLOY_JOBS.queue; tests use their own). */
  queue?: string;
  /**
   * How long shutdown waits for the deploys running (`[DEFAULT] graceful_shutdown_timeout`;
   * undefined: JobQueue's default). A deploy still running then is left unacked: the broker
   * gives its job to another worker once this process has gone.
   */
  stopTimeoutMs?: number;
}

/**
 * Consumes DEPLOY_JOBS.queue (`baremetal.deploy`), `prefetch` jobs at a time, each validated
 * (parseDeployJob) and run by DeployNode; the job is acked once DeployNode resolved (deployed,
 * failed or stale). A malformed job throws InvalidDeployJob (a PermanentJobError): JobQueue
 * dead-letters it at once with the reason, without retries. On shutdown it stops consuming and
 * waits for the deploys running.
 */
export class DeployWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('deploy-worker');
  private readonly queue: JobQueue<unknown>;
  private readonly queueName: string;
  private readonly running = new Set<Promise<unknown>>();
  private readonly prefetch: number;
  private readonly stopTimeoutMs?: number;

  constructor(
    conn: AmqpConnection,
    private readonly deploy: Pick<DeployNode, 'run'> & Partial<Pick<DeployNode, 'abandon' | 'sweepLeftovers'>>,
    opts: DeployWorkerOptions,
  ) {
    this.queueName = opts.queue ?? DEPLOY_JOBS.queue;
    this.prefetch = opts.prefetch;
    this.stopTimeoutMs = opts.stopTimeoutMs;
    this.queue = new JobQueue<unknown>(conn, {
      queue: this.queueName,
      exchange: DEPLOY_JOBS.exchange,
      prefetch: opts.prefetch,
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
      ...(opts.retryDelayMs !== undefined ? { retryDelayMs: opts.retryDelayMs } : {}),
    });
  }

  /** Deploys in progress. */
  get active(): number {
    return this.running.size;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.prefetch === 0) {
      // AMQP's prefetch 0 would mean "no limit": [deploy_helper] deploy_workers = 0 means no worker.
      this.log.log(`deploy_workers = 0: not consuming ${this.queueName} (this process answers callbacks only)`);
      return;
    }
    await this.deploy.sweepLeftovers?.();
    await this.queue.consume((payload) => this.handle(payload));
    this.log.log(`consuming ${this.queueName}, ${this.prefetch} deploy(s) at once`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.running.size) this.log.log(`waiting for ${this.running.size} deploy(s) to finish`);
    const graceMs = timerMs(this.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    await this.queue.stop({ timeoutMs: graceMs });
    // Deploys this worker runs that the queue does not track (handle() called directly) are
    // waited for the same way: up to the grace, then left to go with the process.
    if (this.running.size) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    if (this.running.size && this.deploy.abandon) {
      // Past the grace: cut them (their LUNs detached, their blocked I/O failed), so that no
      // write held by a vanished target keeps the process from exiting; then a short wait for
      // them to unwind.
      this.log.warn(`${this.running.size} deploy(s) still running at shutdown: abandoned, left for redelivery`);
      await this.deploy.abandon();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.running]),
        new Promise((r) => (timer = setTimeout(r, ABANDON_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    if (this.running.size)
      this.log.warn(`${this.running.size} deploy(s) still running at shutdown: left for redelivery`);
  }

  /** One delivered job (public for tests). */
  async handle(payload: unknown): Promise<void> {
    const parsed = parseDeployJob(payload);
    if (!parsed.ok) {
      const why = parsed.problems.map((p) => `${p.field} ${p.message}`).join('; ');
      throw new InvalidDeployJob(`invalid deploy job: ${why}`);
    }
    const run = this.deploy.run(parsed.value);
    this.running.add(run);
    try {
      await run;
    } finally {
      this.running.delete(run);
    }
  }
}
