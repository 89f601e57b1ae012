import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseExposition } from '../../../test/support/prometheus';
import { Lifecycle } from './lifecycle';
import { Metrics } from './metrics';

/** What the starting handler answers `url` (no socket: a recording response). */
function get(handler: ReturnType<Lifecycle['startingHandler']>, url: string) {
  return new Promise<{ status: number; type: string; body: string }>((done) => {
    let status = 0;
    let type = '';
    const res = {
      writeHead(s: number, headers: Record<string, string>) {
        status = s;
        type = headers['content-type'];
        return this;
      },
      end(body: string) {
        done({ status, type, body });
      },
    };
    handler({ url } as IncomingMessage, res as unknown as ServerResponse);
  });
}

// Before Nest is up (the database or the broker still awaited), the health port answers by itself.
describe('Lifecycle.startingHandler', () => {
  const lifecycle = new Lifecycle();
  lifecycle.databaseError = 'connect ECONNREFUSED 127.0.0.1:1';
  const handler = lifecycle.startingHandler('power', new Metrics());

  it.each(['/healthz', '/healthz?verbose', '/healthz/ready'])(
    'readiness %s: 503 starting, naming what is missing',
    async (url) => {
      const r = await get(handler, url);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({
        service: 'power',
        status: 'starting',
        missing: ['broker', 'database'],
        database: { reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:1' },
      });
    },
  );

  it('liveness: 200, the process answers', async () => {
    const r = await get(handler, '/healthz/live');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ service: 'power', status: 'alive', phase: 'starting' });
  });

  it('/metrics: the process metrics already, in the text format', async () => {
    const r = await get(handler, '/metrics');
    expect([r.status, r.type]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
    expect(parseExposition(r.body).value('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('anything else: 404', async () => {
    expect((await get(handler, '/nothing')).status).toBe(404);
  });
});
