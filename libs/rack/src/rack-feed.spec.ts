import { ManualClock } from '@bm/core';
import type { NodeEventRow, RackNodeRow } from '@bm/db';
import { type RackMessage, RackFeed, type RackSource, RackUnavailable } from './rack-feed';

const T0 = Date.parse('2026-12-07T06:00:00Z');

const node = (id: number, over: Partial<RackNodeRow> = {}): RackNodeRow => ({
  id,
  uuid: `uuid-${id}`,
  service_host: 'cn1',
  instance_uuid: null,
  instance_name: null,
  task_state: null,
  cpus: 1,
  memory_mb: 512,
  local_gb: 2,
  cpu_arch: 'x86_64',
  maintenance: false,
  maintenance_reason: null,
  power_state: 'off',
  power_error: null,
  power_checked_at: null,
  ...over,
});

/** A database in memory: rows and an event log whose ids may become visible out of order. */
class FakeSource implements RackSource {
  rows: RackNodeRow[] = [];
  events: NodeEventRow[] = [];
  failure: Error | undefined;
  reads = 0;

  private check(): void {
    this.reads++;
    if (this.failure) throw this.failure;
  }
  add(id: number, nodeId: number, kind: string, detail: string, bytes: number | null = null): void {
    this.events.push({
      id,
      nodeId,
      at: new Date(T0 + id * 1000),
      source: 'test',
      kind,
      detail,
      durationMs: null,
      bytes,
      instanceUuid: 'i-1',
    });
  }
  async nodes() {
    this.check();
    return this.rows.map((r) => ({ ...r }));
  }
  async lastEventId() {
    this.check();
    return Math.max(0, ...this.events.map((e) => e.id));
  }
  async latestEvents(perNode: number) {
    this.check();
    const by = new Map<number, NodeEventRow[]>();
    for (const e of [...this.events].sort((a, b) => a.id - b.id)) by.set(e.nodeId, [...(by.get(e.nodeId) ?? []), e]);
    return [...by.values()].flatMap((l) => l.slice(-perNode));
  }
  async eventsAfter(after: number, skip: readonly number[], limit: number) {
    this.check();
    return this.events
      .filter((e) => e.id > after && !skip.includes(e.id))
      .sort((a, b) => a.id - b.id)
      .slice(0, limit);
  }
}

/** Lets the feed's pending promises (a poll's queries) run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('RackFeed', () => {
  let clock: ManualClock;
  let db: FakeSource;
  let feed: RackFeed;
  let got: RackMessage[];
  const tick = async () => {
    clock.advance(1000);
    await settle();
  };
  const of = <T extends RackMessage['type']>(type: T) =>
    got.filter((m): m is Extract<RackMessage, { type: T }> => m.type === type);

  beforeEach(() => {
    clock = new ManualClock(T0);
    db = new FakeSource();
    db.rows = [node(1), node(2)];
    feed = new RackFeed(db, { clock, pollMs: 1000 });
    got = [];
  });

  it('sends a snapshot first, then only the tiles that changed', async () => {
    const stop = await feed.subscribe((m) => got.push(m));
    expect(got).toEqual([
      {
        type: 'snapshot',
        at: expect.any(String),
        tiles: [expect.objectContaining({ id: 1 }), expect.objectContaining({ id: 2 })],
      },
    ]);
    await tick();
    expect(got).toHaveLength(1); // nothing changed: nothing sent
    db.rows[1] = node(2, { task_state: 'building', instance_uuid: 'i-1', power_state: 'on' });
    db.add(1, 2, 'state', 'building (associate)');
    await tick();
    expect(of('tiles')).toEqual([
      {
        type: 'tiles',
        at: expect.any(String),
        tiles: [expect.objectContaining({ id: 2, state: 'building', power: 'on', phase: 'state building' })],
      },
    ]);
    expect(of('events')[0].events).toEqual([expect.objectContaining({ id: 1, nodeId: 2, kind: 'state' })]);
    stop();
  });

  it('follows a deploy: the phase and the bytes written, then active', async () => {
    await feed.subscribe((m) => got.push(m));
    const deploy: [string, string, number | null, Partial<RackNodeRow>][] = [
      ['state', 'building (associate)', null, { task_state: 'building', instance_uuid: 'i-1' }],
      ['state', 'deploying (deploy_started)', null, { task_state: 'deploying' }],
      ['deploy.progress', 'write: 1048576 of 4194304 bytes', 1048576, {}],
      ['deploy.progress', 'write: 3145728 of 4194304 bytes', 3145728, {}],
      ['deploy.step', 'write: image written', 4194304, {}],
      ['state', 'active (activated)', null, { task_state: 'active' }],
    ];
    const seen: [string | null, string, number | null][] = [];
    for (const [i, [kind, detail, bytes, row]] of deploy.entries()) {
      db.add(i + 1, 1, kind, detail, bytes);
      Object.assign(db.rows[0], row);
      await tick();
      const t = of('tiles')
        .at(-1)!
        .tiles.find((x) => x.id === 1)!;
      seen.push([t.state, t.phase, t.percent]);
    }
    expect(seen).toEqual([
      ['building', 'state building', null],
      ['deploying', 'state deploying', null],
      ['deploying', 'deploy.progress write', 25],
      ['deploying', 'deploy.progress write', 75],
      ['deploying', 'deploy.step write', null],
      ['active', 'state active', null],
    ]);
    expect(of('tiles').at(-1)!.tiles[0].startedAt).toBe(new Date(T0 + 1000).toISOString());
  });

  it('does not miss an event whose id shows up after a later one (commit order)', async () => {
    db.add(1, 1, 'state', 'building (associate)');
    await feed.subscribe((m) => got.push(m));
    db.add(3, 1, 'dhcp.ack', 'ack');
    await tick();
    db.add(2, 1, 'tftp.file', 'pxelinux.0'); // committed after 3
    await tick();
    await tick();
    expect(of('events').flatMap((m) => m.events.map((e) => e.id))).toEqual([3, 2]);
  });

  it('reports a node that went away, and a new one', async () => {
    await feed.subscribe((m) => got.push(m));
    db.rows = [node(2), node(3)];
    await tick();
    expect(of('removed')).toEqual([{ type: 'removed', at: expect.any(String), ids: [1] }]);
    expect(of('tiles')[0].tiles.map((t) => t.id)).toEqual([3]);
  });

  it('polls only while someone listens, and starts afresh after', async () => {
    const stop = await feed.subscribe((m) => got.push(m));
    await tick();
    const reads = db.reads;
    stop();
    await tick();
    await tick();
    expect(db.reads).toBe(reads);
    expect(clock.pending).toBe(0);
    db.rows[0] = node(1, { task_state: 'error' });
    got = [];
    await feed.subscribe((m) => got.push(m));
    expect(got[0]).toMatchObject({ type: 'snapshot', tiles: [{ id: 1, state: 'error' }, { id: 2 }] });
  });

  it('a database that cannot be read is a status, then a snapshot when it answers again', async () => {
    const log = { warn: jest.fn(), log: jest.fn() };
    feed = new RackFeed(db, { clock, pollMs: 1000, log });
    await feed.subscribe((m) => got.push(m));
    db.failure = new Error('connection refused');
    await tick();
    await tick();
    expect(of('status')).toEqual([
      { type: 'status', at: expect.any(String), ok: false, error: 'connection refused' },
      { type: 'status', at: expect.any(String), ok: false, error: 'connection refused' },
    ]);
    expect(log.warn).toHaveBeenCalledTimes(1); // once per streak
    await expect(feed.snapshot()).rejects.toThrow(RackUnavailable);
    db.failure = undefined;
    db.rows[0] = node(1, { maintenance: true, maintenance_reason: 'fan <b>' });
    await tick();
    expect(of('status').at(-1)).toMatchObject({ ok: true });
    expect(got.at(-1)).toMatchObject({
      type: 'snapshot',
      tiles: [{ id: 1, maintenance: true, maintenanceReason: 'fan <b>' }, { id: 2 }],
    });
  });

  it('a listener that throws does not stop the others', async () => {
    const broken = jest.fn(() => {
      throw new Error('socket closed');
    });
    await feed.subscribe((m) => (m.type === 'snapshot' ? undefined : broken()));
    await feed.subscribe((m) => got.push(m));
    db.rows[0] = node(1, { power_state: 'on' });
    await tick();
    expect(broken).toHaveBeenCalled();
    expect(of('tiles')).toHaveLength(1);
  });

  it('snapshot() without listeners reads the database', async () => {
    db.rows = [node(5, { task_state: 'active', instance_uuid: 'i-5' })];
    expect(await feed.snapshot()).toEqual([expect.objectContaining({ id: 5, state: 'active', instance: 'i-5' })]);
    expect(clock.pending).toBe(0); // and does not start polling
  });
});
