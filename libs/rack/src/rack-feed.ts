/**
 * The rack's live feed: every live node's tile, kept current by a cheap poll of the database
 * (the nodes with their power record, and the timeline events since the last poll), and pushed to
 * whoever subscribed (the page's server-sent events) as changes: tiles that changed, nodes that
 * went away, the new timeline events. It polls only while someone listens.
 */
import { type Clock, namedError, setClockTimeout } from '@bm/core';
import type { NodeEventRow, RackNodeRow } from '@bm/db';
import { NodeHistory } from './node-history';
import { type RackEvent, type RackTile, rackEventOf, tileOf } from './tile';

/** The database as the feed reads it (RackRepository). */
export interface RackSource {
  /** Every live node with its power record, by id. */
  nodes(): Promise<RackNodeRow[]>;
  /** The highest event id now (0: none). */
  lastEventId(): Promise<number>;
  /** Each live node's latest `perNode` events, oldest first. */
  latestEvents(perNode: number): Promise<NodeEventRow[]>;
  /** Events with an id above `after`, but not those in `skip`, by id; at most `limit`. */
  eventsAfter(after: number, skip: readonly number[], limit: number): Promise<NodeEventRow[]>;
}

export type RackMessage =
  /** Every tile: the first message a subscriber gets, and again after the database came back. */
  | { type: 'snapshot'; at: string; tiles: RackTile[] }
  /** Tiles that changed, or nodes that appeared. */
  | { type: 'tiles'; at: string; tiles: RackTile[] }
  /** Nodes that are no longer live (deleted). */
  | { type: 'removed'; at: string; ids: number[] }
  /** New timeline events, oldest first. */
  | { type: 'events'; events: RackEvent[] }
  /** The database cannot be read (the page keeps the last tiles, marked stale), or can again. */
  | { type: 'status'; at: string; ok: boolean; error?: string };

/** The database cannot be read: the rack is not known. */
export class RackUnavailable extends namedError('RackUnavailable', 'unavailable') {}

export type RackListener = (m: RackMessage) => void;

export interface RackFeedOptions {
  clock: Clock;
  /** Milliseconds between polls while someone listens (default 1000). */
  pollMs?: number;
  /** A poll's failure (once per streak) and its recovery. */
  log?: { warn(m: string): void; log(m: string): void };
}

/** Events each node's history starts from. */
const START_EVENTS = 200;
/**
 * Ids below the highest seen that are read again: an event inserted by a transaction that
 * committed after a later one (ids are taken at insert, seen at commit) is not missed.
 */
const LOOKBACK_IDS = 256;
/** Events read per poll at most; a burst is read over the next polls. */
const EVENTS_PER_POLL = 2000;

export class RackFeed {
  private readonly listeners = new Set<RackListener>();
  private readonly tiles = new Map<number, { tile: RackTile; json: string }>();
  private readonly histories = new Map<number, NodeHistory>();
  /** The highest event id seen, and the seen ids within LOOKBACK_IDS below it. */
  private cursor = 0;
  private seen = new Set<number>();
  private loaded = false;
  private failing: string | undefined;
  private running: Promise<void> | undefined;
  private polling: Promise<void> | undefined;
  private cancelSleep: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly pollMs: number;

  constructor(
    private readonly source: RackSource,
    private readonly o: RackFeedOptions,
  ) {
    this.pollMs = o.pollMs ?? 1000;
  }

  /**
   * Starts sending `listener` the rack: a snapshot first (read now if the feed was idle), then
   * the changes. Returns the function that stops it. When the database cannot be read, the
   * snapshot is empty and a `status` message says why; the feed keeps trying.
   */
  async subscribe(listener: RackListener): Promise<() => void> {
    if (!this.running) await this.poll(true);
    listener(this.snapshotMessage());
    if (this.failing !== undefined) listener({ type: 'status', at: this.now(), ok: false, error: this.failing });
    this.listeners.add(listener);
    this.running ??= this.loop();
    return () => {
      this.listeners.delete(listener);
      if (!this.listeners.size) this.stop();
    };
  }

  /** Every tile now: the running feed's, or read afresh when idle. Throws RackUnavailable. */
  async snapshot(): Promise<RackTile[]> {
    if (!this.running) await this.poll(true);
    if (this.failing !== undefined) throw new RackUnavailable(this.failing);
    return [...this.tiles.values()].map((t) => t.tile);
  }

  /** Wakes the poll loop so that it ends once it sees nobody listens. */
  private stop(): void {
    this.cancelSleep?.();
    this.wake?.();
  }

  /** Forgets what the feed knew (before a fresh load). */
  private reset(): void {
    this.tiles.clear();
    this.histories.clear();
    this.cursor = 0;
    this.seen = new Set();
    this.loaded = false;
  }

  private async loop(): Promise<void> {
    try {
      while (this.listeners.size) {
        await new Promise<void>((woken) => {
          this.wake = woken;
          this.cancelSleep = setClockTimeout(this.o.clock, this.pollMs, woken);
        });
        this.wake = undefined;
        this.cancelSleep = undefined;
        if (!this.listeners.size) break;
        await this.poll();
      }
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Reads the nodes and the new events and sends the changes; `fresh`: from scratch (the feed
   * was idle, what it knew is old). One poll at a time: a caller during one waits for it. Never
   * throws: a failure is a `status` message, and `failing` until a poll succeeds.
   */
  private poll(fresh = false): Promise<void> {
    if (fresh && !this.polling) this.loaded = false;
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const first = !this.loaded;
      if (first) await this.load();
      const rows = await this.source.nodes();
      const events = first ? [] : await this.newEvents();
      const recovered = this.failing !== undefined;
      if (recovered) {
        this.o.log?.log(`rack: the database answers again`);
        this.failing = undefined;
        this.send({ type: 'status', at: this.now(), ok: true });
      }
      this.apply(rows, events, recovered);
    } catch (e) {
      const error = (e as Error).message;
      if (this.failing === undefined) this.o.log?.warn(`rack: cannot read the nodes: ${error}`);
      this.failing = error;
      this.send({ type: 'status', at: this.now(), ok: false, error });
    }
  }

  /** The histories from each node's latest events; events after `cursor` come with the polls. */
  private async load(): Promise<void> {
    this.reset();
    this.cursor = await this.source.lastEventId();
    const events = await this.source.latestEvents(START_EVENTS);
    for (const e of events) {
      this.history(e.nodeId).add([e]);
      if (e.id > this.cursor - LOOKBACK_IDS) this.seen.add(e.id);
    }
    this.loaded = true;
  }

  private async newEvents(): Promise<NodeEventRow[]> {
    const low = Math.max(0, this.cursor - LOOKBACK_IDS);
    const skip = [...this.seen].filter((id) => id > low);
    const events = await this.source.eventsAfter(low, skip, EVENTS_PER_POLL);
    for (const e of events) {
      this.seen.add(e.id);
      this.cursor = Math.max(this.cursor, e.id);
    }
    const floor = this.cursor - LOOKBACK_IDS;
    for (const id of this.seen) if (id <= floor) this.seen.delete(id);
    return events;
  }

  private apply(rows: RackNodeRow[], events: NodeEventRow[], all: boolean): void {
    for (const e of events) this.history(e.nodeId).add([e]);
    const changed: RackTile[] = [];
    const live = new Set<number>();
    for (const row of rows) {
      live.add(row.id);
      const tile = tileOf(row, this.histories.get(row.id)?.list() ?? []);
      const json = JSON.stringify(tile);
      if (this.tiles.get(row.id)?.json !== json) changed.push(tile);
      this.tiles.set(row.id, { tile, json });
    }
    const removed = [...this.tiles.keys()].filter((id) => !live.has(id));
    for (const id of removed) {
      this.tiles.delete(id);
      this.histories.delete(id);
    }
    const at = this.now();
    if (all) {
      this.send(this.snapshotMessage());
    } else {
      if (changed.length) this.send({ type: 'tiles', at, tiles: changed });
      if (removed.length) this.send({ type: 'removed', at, ids: removed });
    }
    const shown = events.filter((e) => live.has(e.nodeId));
    if (shown.length) this.send({ type: 'events', events: shown.map(rackEventOf) });
  }

  private history(nodeId: number): NodeHistory {
    let h = this.histories.get(nodeId);
    if (!h) this.histories.set(nodeId, (h = new NodeHistory()));
    return h;
  }

  private snapshotMessage(): RackMessage {
    return { type: 'snapshot', at: this.now(), tiles: [...this.tiles.values()].map((t) => t.tile) };
  }

  private send(m: RackMessage): void {
    for (const l of this.listeners) {
      try {
        l(m);
      } catch (e) {
        // One broken listener (a closed socket) must not stop the others.
        this.o.log?.warn(`rack: a listener failed: ${(e as Error).message}`);
      }
    }
  }

  private now(): string {
    return new Date(this.o.clock.now()).toISOString();
  }
}
