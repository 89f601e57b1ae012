import { NodeEventRepository, NodeRepository, PowerRecordRepository } from '@bm/db';
import { type RackEvent, type RackMessage, type RackTile, parseSse } from '@bm/rack';
import { enrollNode } from '../../../test/support/nodes';
import { RACK_HOST, type RackSite, startRack } from './rack-site';

// The rack service's HTTP surface, built and run against a scratch database: the event stream
// (server-sent events) read as a client reads it, the JSON reads, the page's headers, bad
// requests, and a stop with a stream open.

/** An open `GET /events`, its frames parsed as they arrive. */
class EventStream {
  private buffer = '';
  private readonly messages: RackMessage[] = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  readonly done: Promise<void>;

  constructor(readonly response: Response) {
    this.reader = response.body!.getReader();
    this.done = this.pump();
  }

  private async pump(): Promise<void> {
    for (;;) {
      const { value, done } = await this.reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      this.buffer += this.decoder.decode(value, { stream: true });
      const { frames, rest } = parseSse(this.buffer);
      this.buffer = rest;
      for (const f of frames) {
        const m = JSON.parse(f.data) as RackMessage;
        expect(m.type).toBe(f.event); // the SSE event type is the message's type
        this.messages.push(m);
      }
    }
  }

  /** The first message (from `from` on) that `match` accepts; fails after `timeoutMs`. */
  async next<T extends RackMessage['type']>(
    type: T,
    match: (m: Extract<RackMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 8000,
  ): Promise<Extract<RackMessage, { type: T }>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type && match(m as Extract<RackMessage, { type: T }>));
      if (i >= 0) return this.messages.splice(0, i + 1)[i] as Extract<RackMessage, { type: T }>;
      if (Date.now() > until)
        throw new Error(`no ${type} message in ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    return this.reader.cancel();
  }
}

const tileOf = (m: { tiles: RackTile[] }, id: number) => m.tiles.find((t) => t.id === id);

describe('rack service: the event stream and the JSON reads', () => {
  let site: RackSite;
  let nodes: NodeRepository;
  let events: NodeEventRepository;
  let ids: number[];
  const uuids: string[] = [];

  beforeAll(async () => {
    site = await startRack('bm_rack_sse');
    nodes = new NodeRepository(site.db.ds);
    events = new NodeEventRepository(site.db.ds);
    ids = [];
    for (const i of [1, 2]) {
      ids.push(await enrollNode(site.db.ds, RACK_HOST, { macs: [`52:54:00:aa:00:0${i}`], pm_address: `10.0.0.${i}` }));
      const [{ uuid }] = await site.db.ds.query('SELECT uuid FROM bm_nodes WHERE id = $1', [ids[ids.length - 1]]);
      uuids.push(uuid);
    }
  });
  afterAll(async () => {
    await site?.stop();
  });

  it('streams a snapshot, then the changes as they reach the database', async () => {
    const r = await fetch(`${site.url}events`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
    const stream = new EventStream(r);
    try {
      const snapshot = await stream.next('snapshot');
      expect(snapshot.tiles.map((t) => [t.id, t.state, t.power, t.maintenance])).toEqual([
        [ids[0], null, null, false],
        [ids[1], null, null, false],
      ]);

      const instance = '6f1d1c39-3c2a-4d6e-9c55-000000000001';
      await nodes.associate(uuids[0], RACK_HOST, instance, 'vm-sse');
      const building = await stream.next('tiles', (m) => tileOf(m, ids[0])?.state === 'building');
      expect(tileOf(building, ids[0])).toMatchObject({ instance, instanceName: 'vm-sse', phase: 'state building' });
      const timeline = await stream.next('events', (m) => m.events.some((e) => e.nodeId === ids[0]));
      expect(timeline.events).toEqual([
        expect.objectContaining({ nodeId: ids[0], source: 'compute', kind: 'state', detail: 'building (associate)' }),
      ]);

      await new PowerRecordRepository(site.db.ds).save({
        nodeId: ids[1],
        state: 'on',
        checkedAt: new Date(),
        latencyMs: 3,
        error: null,
        failures: 0,
        nextCheckAt: new Date(),
        changedAt: new Date(),
      });
      await stream.next('tiles', (m) => tileOf(m, ids[1])?.power === 'on');

      await nodes.transition(ids[0], instance, 'prepared');
      await nodes.transition(ids[0], instance, 'deploy_started');
      await events.record({
        nodeId: ids[0],
        source: 'deploy-helper',
        kind: 'deploy.progress',
        detail: 'write: 4194304 of 16777216 bytes',
        bytes: 4194304,
        instanceUuid: instance,
      });
      const writing = await stream.next('tiles', (m) => tileOf(m, ids[0])?.percent === 25);
      expect(tileOf(writing, ids[0])).toMatchObject({ state: 'deploying', bytes: 4194304, total: 16777216 });

      // A soft-deleted node leaves the rack.
      await site.db.ds.query(`UPDATE bm_nodes SET deleted = true, deleted_at = now() WHERE id = $1`, [ids[1]]);
      expect((await stream.next('removed')).ids).toEqual([ids[1]]);
      await site.db.ds.query(`UPDATE bm_nodes SET deleted = false, deleted_at = NULL WHERE id = $1`, [ids[1]]);
      await stream.next('tiles', (m) => tileOf(m, ids[1]) !== undefined);
    } finally {
      await stream.close();
    }
  });

  it('GET /api/nodes: every tile; /api/nodes/:id/timeline: the events, oldest first', async () => {
    const tiles = (await (await fetch(`${site.url}api/nodes`)).json()) as RackTile[];
    expect(tiles.map((t) => t.id)).toEqual(ids);
    const r = await fetch(`${site.url}api/nodes/${ids[0]}/timeline?limit=2`);
    expect(r.status).toBe(200);
    const timeline = (await r.json()) as RackEvent[];
    expect(timeline.map((e) => e.detail)).toEqual(['deploying (deploy_started)', 'write: 4194304 of 16777216 bytes']);
  });

  it.each([
    ['api/nodes/abc/timeline', 400, /node: must be a node id/],
    ['api/nodes/1/timeline?limit=0', 400, /limit: must be an integer from 1 to 1000/],
    ['api/nodes/1/timeline?limit=5000', 400, /limit: at most 1000/],
    ['api/nodes/1/timeline?other=1', 400, /other: /],
    ['api/nodes/9999999999/timeline', 400, /node: 9999999999 is not a node id/],
    ['api/nodes/99999999999/timeline', 400, /node: must be a node id/],
    ['api/nodes/424242/timeline', 404, /node 424242 is not enrolled/],
  ])('GET /%s: %i', async (path, status, message) => {
    const r = await fetch(`${site.url}${path}`);
    expect(r.status).toBe(status);
    expect(JSON.stringify(await r.json())).toMatch(message);
  });

  it('serves the page with a policy that runs only its own script', async () => {
    const r = await fetch(site.url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+';/);
    expect(csp).not.toContain('unsafe');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('x-powered-by')).toBeNull();
    expect(await r.text()).toContain('<title>nova-bm rack</title>');
  });

  it('a SIGTERM with a stream open ends the stream and the process at once', async () => {
    const stream = new EventStream(await fetch(`${site.url}events`));
    await stream.next('snapshot');
    const started = Date.now();
    const code = await site.service.stop();
    await stream.done;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    // afterAll's stop sees the same exit.
  });
});
