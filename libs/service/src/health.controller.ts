import { Controller, Get, HttpException, HttpStatus, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { LATEST_VERSION, schemaVersion } from '@bm/db';
import { AMQP_CONNECTION, type AmqpConnection } from '@bm/messaging';
import { SERVICE_NAME } from './tokens';

export interface Health {
  service: string;
  status: 'ok' | 'degraded';
  database: { reachable: boolean; schema_version?: number; latest: number; error?: string };
  broker: { connected: boolean };
}

/**
 * GET /healthz: 200 when the database answers and carries the latest nova_bm schema and the
 * message broker is connected, 503 otherwise (docker-compose healthchecks and the lab wait on it).
 */
@Controller()
export class HealthController {
  constructor(
    @Inject(SERVICE_NAME) private readonly service: string,
    private readonly ds: DataSource,
    @Inject(AMQP_CONNECTION) private readonly amqp: AmqpConnection,
  ) {}

  @Get('healthz')
  async health(): Promise<Health> {
    const h: Health = {
      service: this.service,
      status: 'ok',
      database: { reachable: false, latest: LATEST_VERSION },
      broker: { connected: this.amqp.connected },
    };
    if (!h.broker.connected) h.status = 'degraded';
    try {
      h.database.schema_version = await schemaVersion(this.ds);
      h.database.reachable = true;
      if (h.database.schema_version !== LATEST_VERSION) {
        h.status = 'degraded';
        h.database.error = `schema version ${h.database.schema_version}, want ${LATEST_VERSION}: run \`bmctl db sync\``;
      }
    } catch (e) {
      h.status = 'degraded';
      h.database.error = (e as Error).message;
    }
    if (h.status !== 'ok') throw new HttpException(h, HttpStatus.SERVICE_UNAVAILABLE);
    return h;
  }
}
