import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Metrics, PROMETHEUS_CONTENT_TYPE } from './metrics';

export type Phase = 'starting' | 'running' | 'stopping';

/**
 * Where the process is in its life, for /healthz. While starting, the database and the broker
 * are awaited (retried forever) before Nest can build the app: this records which of them has
 * answered, so a plain HTTP responder can say what is missing until /healthz proper takes over.
 */
export class Lifecycle {
  phase: Phase = 'starting';
  brokerConnected = false;
  databaseReachable = false;
  /** The last failure to open the database while starting. */
  databaseError?: string;
  readonly startedAt = Date.now();

  /** What the service is still waiting for while starting. */
  missing(): string[] {
    return [...(this.brokerConnected ? [] : ['broker']), ...(this.databaseReachable ? [] : ['database'])];
  }

  /** The liveness answer (`/healthz/live`): the process answers, whatever its dependencies do. */
  liveBody(service: string): Record<string, unknown> {
    return {
      service,
      status: 'alive',
      phase: this.phase,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  /** The readiness answer (`/healthz/ready`, `/healthz`) before the app is up (always 503). */
  startingBody(service: string): Record<string, unknown> {
    return {
      service,
      status: this.phase,
      missing: this.missing(),
      waiting_s: Math.round((Date.now() - this.startedAt) / 1000),
      database: { reachable: this.databaseReachable, ...(this.databaseError ? { error: this.databaseError } : {}) },
      broker: { connected: this.brokerConnected },
    };
  }

  /**
   * A request handler for the health port while Nest is not serving it yet: readiness 503,
   * liveness 200, and /metrics (the process metrics; the rest come once the app is up).
   */
  startingHandler(service: string, metrics?: Metrics): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (path === '/healthz' || path === '/healthz/ready') return json(503, this.startingBody(service));
      if (path === '/healthz/live') return json(200, this.liveBody(service));
      if (path === '/metrics' && metrics) {
        metrics.exposition().then(
          (text) => {
            res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
            res.end(text);
          },
          (e: Error) => json(500, { statusCode: 500, message: e.message }),
        );
        return;
      }
      json(404, { statusCode: 404, message: 'starting' });
    };
  }
}
