import type { IncomingMessage, ServerResponse } from 'node:http';

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

  /** The /healthz answer before the app is up (always 503). */
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

  /** A request handler for the health port while Nest is not serving it yet. */
  startingHandler(service: string): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      const found = req.url === '/healthz' || req.url?.startsWith('/healthz?');
      res.writeHead(found ? 503 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(found ? this.startingBody(service) : { statusCode: 404, message: 'starting' }));
    };
  }
}
