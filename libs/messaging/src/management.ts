import { namedError } from '@bm/core';
import { parseTransportUrl } from './transport-url';
/**
 * A small client of RabbitMQ's management HTTP API (plugin rabbitmq_management), for the
 * operator's view of our exchanges and queues. Credentials go in the Authorization header,
 * never in a printed URL.
 */
export interface QueueInfo {
  name: string;
  vhost: string;
  messages: number;
  messagesReady: number;
  messagesUnacked: number;
  consumers: number;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  /** Messages waiting in `<name>.dead`, when that queue exists. */
  dead?: number;
}

export interface ExchangeInfo {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
}

export class ManagementApiError extends namedError('ManagementApiError', 'unavailable') {}

/** `rabbit://user:pass@host:5672,…/vhost` → the management API of its first broker, `http://host:15672/`. */
export function managementUrlFor(transportUrl: string): string {
  const h = parseTransportUrl(transportUrl).hosts[0];
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  return `http://${encodeURIComponent(h.username)}:${encodeURIComponent(h.password)}@${host}:15672/`;
}

export class ManagementApi {
  private readonly base: URL;
  private readonly auth: string;
  private readonly vhost: string;

  constructor(
    url: string,
    /** The vhost of our transport ('/' by default). */
    vhost = '/',
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    const u = new URL(url);
    this.auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
    this.base = u;
    this.vhost = vhost;
  }

  async queues(): Promise<QueueInfo[]> {
    const rows = await this.get<Record<string, unknown>[]>(`api/queues/${encodeURIComponent(this.vhost)}`);
    const queues = rows.map((q) => ({
      name: String(q.name),
      vhost: String(q.vhost),
      messages: Number(q.messages ?? 0),
      messagesReady: Number(q.messages_ready ?? 0),
      messagesUnacked: Number(q.messages_unacknowledged ?? 0),
      consumers: Number(q.consumers ?? 0),
      durable: Boolean(q.durable),
      autoDelete: Boolean(q.auto_delete),
      arguments: (q.arguments as Record<string, unknown>) ?? {},
    }));
    const byName = new Map(queues.map((q) => [q.name, q]));
    return queues.map((q) =>
      byName.has(`${q.name}.dead`) ? { ...q, dead: byName.get(`${q.name}.dead`)!.messages } : q,
    );
  }

  async exchanges(): Promise<ExchangeInfo[]> {
    const rows = await this.get<Record<string, unknown>[]>(`api/exchanges/${encodeURIComponent(this.vhost)}`);
    return rows
      .filter((e) => e.name !== '' && !String(e.name).startsWith('amq.'))
      .map((e) => ({
        name: String(e.name),
        vhost: String(e.vhost),
        type: String(e.type),
        durable: Boolean(e.durable),
        autoDelete: Boolean(e.auto_delete),
      }));
  }

  private async get<T>(path: string): Promise<T> {
    const url = new URL(path, this.base);
    let r: Response;
    try {
      r = await this.fetchImpl(url, { headers: { authorization: this.auth } });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ManagementApiError(
        `cannot reach the RabbitMQ management API at ${this.base} (${cause}); is the rabbitmq_management plugin enabled?`,
      );
    }
    if (r.status === 401)
      throw new ManagementApiError(`the RabbitMQ management API at ${this.base} refused our credentials`);
    if (!r.ok)
      throw new ManagementApiError(`the RabbitMQ management API at ${this.base} answered ${r.status} for ${path}`);
    return (await r.json()) as T;
  }
}
