import { Controller, Get, HttpException, HttpStatus, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { LATEST_VERSION, schemaVersion } from '@bm/db';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import type { Lifecycle } from './lifecycle';
import { LIFECYCLE, SERVICE_NAME } from './tokens';

export interface Health {
  service: string;
  status: 'ok' | 'degraded' | 'stopping';
  /** What is not there: `broker`, `database`. */
  missing: string[];
  database: { reachable: boolean; schema_version?: number; latest: number; error?: string };
  /** `blocked`: why the broker holds back our publishes (its memory or disk alarm), if it does. */
  broker: { connected: boolean; blocked?: string };
}

/**
 * Readiness, GET /healthz/ready and /healthz (as before the split: docker-compose healthchecks,
 * the lab and the tests wait on it): 200 when the database answers and carries the latest
 * nova_bm schema and the message broker is connected and takes our publishes (not blocked by an
 * alarm), 503 otherwise, and 503 `stopping` from SIGTERM on. Before the app is up, run-service
 * answers 503 `starting`.
 *
 * Liveness, GET /healthz/live: 200 whenever the process answers at all, even while its database
 * or broker is away (restarting it would not bring them back); a supervisor restarts a process
 * only when this fails.
 */
@Controller()
export class HealthController {
  constructor(
    @Inject(SERVICE_NAME) private readonly service: string,
    private readonly ds: DataSource,
    @Inject(AMQP_CONNECTION) private readonly amqp: AmqpConnection,
    @Inject(LIFECYCLE) private readonly lifecycle: Lifecycle,
  ) {}

  @Get('healthz/live')
  live(): Record<string, unknown> {
    return this.lifecycle.liveBody(this.service);
  }

  @Get(['healthz', 'healthz/ready'])
  async health(): Promise<Health> {
    const h: Health = {
      service: this.service,
      status: 'ok',
      missing: [],
      database: { reachable: false, latest: LATEST_VERSION },
      broker: { connected: this.amqp.connected },
    };
    if (!h.broker.connected) {
      h.status = 'degraded';
      h.missing.push('broker');
    }
    const blocked = this.amqp.blocked;
    if (blocked !== undefined) {
      // Connected, but nothing we publish goes out until the broker's alarm clears.
      h.status = 'degraded';
      h.broker.blocked = blocked;
    }
    try {
      h.database.schema_version = await schemaVersion(this.ds);
      h.database.reachable = true;
      if (h.database.schema_version !== LATEST_VERSION) {
        h.status = 'degraded';
        h.database.error = `schema version ${h.database.schema_version}, want ${LATEST_VERSION}: run \`bmctl db sync\``;
      }
    } catch (e) {
      h.status = 'degraded';
      h.missing.push('database');
      h.database.error = (e as Error).message;
    }
    if (this.lifecycle.phase === 'stopping') h.status = 'stopping';
    if (h.status !== 'ok') throw new HttpException(h, HttpStatus.SERVICE_UNAVAILABLE);
    return h;
  }
}
