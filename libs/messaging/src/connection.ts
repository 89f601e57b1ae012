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
import { ConnectionLost } from './errors';

export type Setup = (model: amqp.ChannelModel) => Promise<void>;

export interface Logger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { log() {}, warn() {}, error() {} };

export interface ConnectionOptions {
  /** AMQP URL; oslo's `rabbit://` scheme is accepted as `amqp://`. */
  url: string;
  /** Shown in the management UI, as oslo's `<argv0>:<pid>:<uuid>`. */
  name?: string;
  logger?: Logger;
  /** Heartbeat in seconds (oslo: 60). */
  heartbeat?: number;
  /** Reconnect backoff. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Attempts before the first connection gives up (then open() rejects). Default: 5. */
  initialMaxRetries?: number;
  /**
   * How long close() waits for the broker's close-ok (default 2000 ms). A broker that stopped
   * answering on a live TCP connection (a paused relay, a hung node) must not hold up a SIGTERM.
   */
  closeTimeoutMs?: number;
}

/** `rabbit://user:pass@host:port/vhost` (oslo transport_url) → `amqp://…`. */
export function amqpUrl(transportUrl: string, heartbeat = 60): string {
  const u = new URL(transportUrl.replace(/^rabbit:/, 'amqp:'));
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeat));
  return u.toString();
}

export class AmqpConnection extends EventEmitter {
  private model?: amqp.RecoveringChannelModel;
  private current?: amqp.ChannelModel;
  private publisher?: amqp.ConfirmChannel;
  private readonly setups = new Set<Setup>();
  private closing = false;
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

  private async start(): Promise<void> {
    const name = this.opts.name ?? `${basename(process.argv[1] ?? 'node')}:${process.pid}:${uuidHex()}`;
    this.model = await amqp.connect(amqpUrl(this.opts.url, this.opts.heartbeat), {
      clientProperties: { connection_name: name },
      noDelay: true,
      recovery: {
        initialDelay: this.opts.initialDelayMs ?? 200,
        maxDelay: this.opts.maxDelayMs ?? 5000,
        maxRetries: Infinity,
        initialMaxRetries: this.opts.initialMaxRetries ?? 5,
        setup: (model: amqp.ChannelModel) => this.onConnect(model),
      },
    });
    this.model.on('disconnect', (err: Error) => this.onDisconnect(err));
    this.model.on('error', (err: Error) => this.logger.warn(`AMQP connection error: ${err.message}`));
    this.model.on('reconnect-scheduled', (i: { attempt: number; delay: number }) =>
      this.logger.warn(`AMQP reconnect attempt ${i.attempt} in ${Math.round(i.delay)} ms`),
    );
  }

  private async onConnect(model: amqp.ChannelModel): Promise<void> {
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (e: Error) => this.logger.warn(`publish channel: ${e.message}`));
    publisher.on('return', (m: amqp.Message) => this.emit('return', m));
    this.current = model;
    this.publisher = publisher;
    for (const setup of this.setups) await setup(model);
    this.logger.log('AMQP connected');
    this.emit('connect');
  }

  private onDisconnect(err: Error): void {
    this.current = undefined;
    this.publisher = undefined;
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

  /** Publishes and resolves once the broker confirms; fails fast when disconnected. */
  publish(exchange: string, routingKey: string, content: Buffer, options: amqp.Options.Publish): Promise<void> {
    const ch = this.publisher;
    if (!ch) return Promise.reject(new ConnectionLost('not connected to the message broker'));
    return new Promise((resolve, reject) => {
      try {
        ch.publish(exchange, routingKey, content, options, (err) =>
          err ? reject(new ConnectionLost(`broker did not confirm the publish: ${err.message ?? err}`)) : resolve(),
        );
      } catch (e) {
        reject(new ConnectionLost(`publish failed: ${(e as Error).message}`));
      }
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
