/**
 * Names and flags of everything oslo's rabbit driver declares (docs/oslo-wire.md §1). A peer
 * must declare with the same flags: RabbitMQ refuses a redeclare with others (406), so our
 * services and real oslo ones can share a broker only if these match.
 */
import type { Options } from 'amqplib';
import { uuidHex } from './envelope';

/** Transient queues (fanout, reply) expire 30 min after their last consumer (rabbit_transient_queues_ttl). */
export const TRANSIENT_QUEUE_TTL_MS = 1_800_000;

export interface Target {
  /** The control exchange (nova's `nova`; oslo's default `openstack`). */
  exchange: string;
  topic: string;
  /** The server (host) for `<topic>.<server>`; absent = the shared `<topic>` queue. */
  server?: string;
}

export interface ExchangeSpec {
  name: string;
  type: 'topic' | 'fanout' | 'direct';
  options: Options.AssertExchange;
}

export const topicExchange = (name: string): ExchangeSpec => ({
  name,
  type: 'topic',
  options: { durable: false, autoDelete: false },
});

export const fanoutExchange = (topic: string): ExchangeSpec => ({
  name: `${topic}_fanout`,
  type: 'fanout',
  options: { durable: false, autoDelete: true },
});

/** `<topic>` and `<topic>.<server>`: plain, non-durable, no arguments. */
export const sharedQueueOptions: Options.AssertQueue = { durable: false, autoDelete: false, exclusive: false };

/**
 * `<topic>` and `<topic>.<server>` queues that outlive a broker restart with their persistent
 * messages (oslo's amqp_durable_queues = True), for queues no Nova peer declares differently.
 */
export const durableQueueOptions: Options.AssertQueue = { durable: true, autoDelete: false, exclusive: false };

export const transientQueueOptions: Options.AssertQueue = {
  durable: false,
  autoDelete: false,
  exclusive: false,
  arguments: { 'x-expires': TRANSIENT_QUEUE_TTL_MS },
};

export const fanoutQueueName = (topic: string) => `${topic}_fanout_${uuidHex()}`;
export const replyQueueName = () => `reply_${uuidHex()}`;
export const routingKey = (t: Pick<Target, 'topic' | 'server'>) => (t.server ? `${t.topic}.${t.server}` : t.topic);
export const notificationRoutingKey = (topic: string, priority: string) => `${topic}.${priority.toLowerCase()}`;

/** AMQP properties of every oslo publish (§2); calls add `expiration`. */
export function publishProperties(expirationMs?: number): Options.Publish {
  return {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryMode: 2,
    priority: 0,
    headers: {},
    ...(expirationMs !== undefined ? { expiration: String(Math.max(1, Math.round(expirationMs))) } : {}),
  };
}
