/**
 * One AMQP connection per process, kept alive across broker restarts: amqplib's recovery
 * reconnects with exponential backoff, and every registered `setup` (declarations, consumers)
 * runs again on each new connection. Publishes go through one confirm channel, so a publish
 * resolves only when the broker has taken the message; while the broker is away a publish
 * fails at once with ConnectionLost instead of waiting or vanishing.
 */
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import * as amqp from 'amqplib';
import { uuidHex } from './envelope';
import { ConnectionLost, Unroutable, PublishTimeout } from './errors';
import { timerMs } from './timers';
import { type RabbitSslOptions, connectTarget, parseTransportUrl, tlsSocketOptions } from './transport-url';

export type Setup = (model: amqp.ChannelModel) => Promise<void>;

export interface Logger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Per-request detail (each RPC handled), written only with `[DEFAULT] debug`. */
  debug?(message: string): void;
}

export const silentLogger: Logger = { log() {}, warn() {}, error() {} };

export interface ConnectionOptions {
  /** oslo transport_url: `rabbit://`, `amqp://` or `amqps://`, one broker or a list (see transport-url.ts). */
  url: string;
  /** oslo's `[oslo_messaging_rabbit]` TLS options. */
  ssl?: RabbitSslOptions;
  /** Shown in the management UI, as oslo's `<argv0>:<pid>:<uuid>`. */
  name?: string;
  logger?: Logger;
  /** Heartbeat in seconds (oslo: 60). */
  heartbeat?: number;
  /** Reconnect backoff. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Attempts before the first connection gives up (then open() rejects). Default: never give up
   * (a service waits for its broker, /healthz says so meanwhile); a one-shot command passes 0.
   */
  initialMaxRetries?: number;
  /**
   * How long close() waits for the broker's close-ok (default 2000 ms). A broker that stopped
   * answering on a live TCP connection (a paused relay, a hung node) must not hold up a SIGTERM.
   */
  closeTimeoutMs?: number;
  /**
   * How long a publish may wait for the broker's confirm, blocked time included (default 30 s);
   * a publish can set its own.
   */
  publishTimeoutMs?: number;
}

/** Per publish: its deadline in ms (default: the connection's publishTimeoutMs). */
export interface PublishOptions {
  timeoutMs?: number;
}

const DEFAULT_PUBLISH_TIMEOUT_MS = 30_000;

export class AmqpConnection extends EventEmitter {
  private model?: amqp.RecoveringChannelModel;
  private current?: amqp.ChannelModel;
  private publisher?: amqp.ConfirmChannel;
  private readonly setups = new Set<Setup>();
  private closing = false;
  private lost = 0;
  /** message_ids of mandatory publishes the broker returned, until their confirm comes. */
  private readonly returned = new Set<string>();
  /** Why the broker blocks our publishes (a resource alarm), while it does. */
  private blockedBy?: string;
  /** Publishes waiting for the broker to unblock us. */
  private readonly waitingForUnblock = new Set<() => void>();
  /** The broker user of the current connection: every publish carries it as `user_id`. */
  private user = '';
  readonly logger: Logger;

  private constructor(private readonly opts: ConnectionOptions) {
    super();
    // Every client, server and notifier of the process listens here: not a leak.
    this.setMaxListeners(100);
    this.logger = opts.logger ?? silentLogger;
  }

  static async open(opts: ConnectionOptions): Promise<AmqpConnection> {
    const c = new AmqpConnection(opts);
    await c.start();
    return c;
  }

  get connected(): boolean {
    return this.current !== undefined && this.publisher !== undefined;
  }

  /** Connections lost so far: a publish that failed while this changed failed for that. */
  get disconnects(): number {
    return this.lost;
  }

  /** The deadline a publish gets when its caller names none. */
  get publishTimeoutMs(): number {
    return this.opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  }

  /**
   * Resolves once connected (at once if so); false if `ms` passed first or the connection was
   * closed. For publishers that would rather wait out a broker restart than fail.
   */
  waitForConnection(ms: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = setInterval(() => {
        if (this.connected || this.closing) done(this.connected);
      }, 50);
      const timer = setTimeout(() => done(false), timerMs(ms));
      const done = (ok: boolean) => {
        clearInterval(check);
        clearTimeout(timer);
        resolve(ok);
      };
    });
  }

  private async start(): Promise<void> {
    const name = this.opts.name ?? `${basename(process.argv[1] ?? 'node')}:${process.pid}:${uuidHex()}`;
    const url = parseTransportUrl(this.opts.url, this.opts.ssl?.ssl === true);
    const tls = url.ssl ? tlsSocketOptions(this.opts.ssl ?? {}) : {};
    // amqplib reconnects to the object it was given: pointing it at the next broker after each
    // failure walks a cluster's list round and round.
    let index = 0;
    const target = connectTarget(url, url.hosts[0], this.opts.heartbeat);
    const next = (why: string) => {
      if (url.hosts.length < 2) return;
      const from = url.hosts[index];
      index = (index + 1) % url.hosts.length;
      const to = url.hosts[index];
      this.logger.warn(`AMQP ${from.host}:${from.port} ${why}; next broker: ${to.host}:${to.port}`);
      Object.assign(target, connectTarget(url, to, this.opts.heartbeat));
    };
    this.user = url.hosts[0].username;
    this.model = await amqp.connect(target, {
      ...tls,
      clientProperties: { connection_name: name },
      noDelay: true,
      recovery: {
        initialDelay: this.opts.initialDelayMs ?? 200,
        maxDelay: this.opts.maxDelayMs ?? 5000,
        maxRetries: Infinity,
        // Every broker of the list gets one try before the first connection gives up.
        initialMaxRetries: Math.max(this.opts.initialMaxRetries ?? Infinity, url.hosts.length - 1),
        waitForConnect: false,
        setup: (model: amqp.ChannelModel) => {
          this.user = String(target.username);
          return this.onConnect(model);
        },
      },
    });
    this.model.on('connect-failed', (err: Error) => next(`unreachable (${err.message})`));
    this.model.on('disconnect', (err: Error) => {
      this.onDisconnect(err);
      next('lost');
    });
    this.model.on('error', (err: Error) => this.logger.warn(`AMQP connection error: ${err.message}`));
    this.model.on('reconnect-scheduled', (i: { attempt: number; delay: number }) =>
      this.logger.warn(`AMQP reconnect attempt ${i.attempt} in ${Math.round(i.delay)} ms`),
    );
    await this.model.waitForConnect();
  }

  private async onConnect(model: amqp.ChannelModel): Promise<void> {
    const publisher = await this.openPublisher(model);
    // The broker stops reading publishes on a memory or disk alarm and says so: publishes wait
    // (up to their deadline) instead of piling up in the socket.
    model.on('blocked', (reason: string) => this.onBlocked(reason));
    model.on('unblocked', () => this.onUnblocked());
    this.current = model;
    this.publisher = publisher;
    for (const setup of this.setups) await setup(model);
    this.logger.log('AMQP connected');
    this.emit('connect');
  }

  /**
   * The confirm channel publishes go through. The broker closes a channel on a publish it refuses
   * (an exchange that does not exist, 404; no permission for it, 403): the connection lives on, so
   * a new channel is opened at once and one refused publish does not fail every later one.
   */
  private async openPublisher(model: amqp.ChannelModel): Promise<amqp.ConfirmChannel> {
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (e: Error) => this.logger.warn(`publish channel: ${e.message}`));
    publisher.on('return', (m: amqp.Message) => {
      // The broker returns an unroutable mandatory publish before it confirms it: noted here,
      // the confirm then fails that publish with Unroutable.
      if (typeof m.properties.messageId === 'string') this.returned.add(m.properties.messageId);
      this.emit('return', m);
    });
    publisher.on('close', () => {
      if (this.publisher !== publisher) return;
      this.publisher = undefined;
      if (this.closing || this.current !== model) return;
      this.openPublisher(model).then(
        (again) => {
          if (this.current === model && !this.closing) this.publisher = again;
          else void again.close().catch(() => undefined);
        },
        (e: Error) => this.logger.warn(`publish channel: cannot reopen it: ${e.message}`),
      );
    });
    return publisher;
  }

  private onDisconnect(err: Error): void {
    this.lost++;
    this.returned.clear();
    this.current = undefined;
    this.publisher = undefined;
    // A new connection starts unblocked; the publishes waiting fail now with ConnectionLost.
    if (this.blockedBy !== undefined) this.onUnblocked();
    if (this.closing) return;
    this.logger.warn(`AMQP connection lost: ${err?.message ?? 'closed'}; reconnecting`);
    this.emit('disconnect', err);
  }

  /**
   * Registers declarations/consumers to run now (if connected) and again after every
   * reconnect. Returns a function that unregisters it.
   */
  async register(setup: Setup): Promise<() => void> {
    this.setups.add(setup);
    if (this.current) {
      try {
        await setup(this.current);
      } catch (e) {
        // e.g. a redeclaration with other flags (406): the caller hears of it, and it is not
        // retried on every reconnect.
        this.setups.delete(setup);
        throw e;
      }
    }
    return () => this.setups.delete(setup);
  }

  /** A channel on the current connection (gone at the next disconnect). */
  async channel(): Promise<amqp.Channel> {
    if (!this.current) throw new ConnectionLost('not connected to the message broker');
    return this.current.createChannel();
  }

  /** Why the broker blocks our publishes (its `connection.blocked` reason), or undefined. */
  get blocked(): string | undefined {
    return this.blockedBy;
  }

  private onBlocked(reason: string): void {
    this.blockedBy = reason || 'no reason given';
    this.logger.warn(`AMQP: the broker blocks our publishes (${this.blockedBy}); they wait for it`);
    this.emit('blocked', this.blockedBy);
  }

  private onUnblocked(): void {
    if (this.blockedBy === undefined) return;
    this.blockedBy = undefined;
    this.logger.log('AMQP: the broker takes our publishes again');
    this.emit('unblocked');
    const waiting = [...this.waitingForUnblock];
    this.waitingForUnblock.clear();
    for (const send of waiting) send();
  }

  /**
   * Publishes and resolves once the broker confirms; fails fast with ConnectionLost when
   * disconnected, and with PublishTimeout when no confirm came within the deadline (time spent
   * blocked by the broker included). Nothing of a publish that failed is left waiting here.
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: amqp.Options.Publish,
    o: PublishOptions = {},
  ): Promise<void> {
    const deadlineMs = timerMs(o.timeoutMs ?? this.opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, 1);
    // A mandatory publish needs an id to tell its return from others'.
    const messageId = options.mandatory ? (options.messageId ?? uuidHex()) : options.messageId;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (e?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waitingForUnblock.delete(send);
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => {
        const why = this.blockedBy !== undefined ? `the broker blocks publishes: ${this.blockedBy}` : 'no confirm';
        finish(
          new PublishTimeout(`publish to '${exchange}' key '${routingKey}' failed after ${deadlineMs} ms (${why})`),
        );
      }, deadlineMs);
      const send = () => {
        if (done) return;
        const ch = this.publisher;
        if (!ch) return finish(new ConnectionLost('not connected to the message broker'));
        try {
          ch.publish(exchange, routingKey, content, { ...options, messageId, userId: this.user }, (err) => {
            if (err) return finish(new ConnectionLost(`broker did not confirm the publish: ${err.message ?? err}`));
            if (messageId !== undefined && this.returned.delete(messageId))
              return finish(new Unroutable(`no queue is bound to '${exchange}' for key '${routingKey}'`));
            finish();
          });
        } catch (e) {
          finish(new ConnectionLost(`publish failed: ${(e as Error).message}`));
        }
      };
      if (this.blockedBy === undefined) send();
      else this.waitingForUnblock.add(send);
    });
  }

  /**
   * Stops reconnecting and closes the connection; resolves within `closeTimeoutMs` whatever the
   * broker does (the socket goes with the process, or with the next reconnect that never comes).
   */
  async close(): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.opts.closeTimeoutMs ?? 2000)),
    );
    const outcome = await Promise.race([this.model?.close().catch(() => undefined), gaveUp]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.logger.warn('AMQP close: no answer from the broker; closed without it');
  }
}
