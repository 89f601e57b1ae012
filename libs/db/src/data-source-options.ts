import './utc';
import type { DataSourceOptions } from 'typeorm';
import { BmInterface } from './entities/bm-interface.entity';
import { BmNode } from './entities/bm-node.entity';
import { BmNodePower } from './entities/bm-node-power.entity';
import { BmDhcpReservation } from './entities/bm-dhcp-reservation.entity';
import { ComputeNode } from './entities/compute-node.entity';
import { Flavor } from './entities/flavor.entity';
import { BmNodeEvent } from './entities/bm-node-event.entity';
import { Image } from './entities/image.entity';
import { MIGRATIONS } from './migrations';

export const ENTITIES = [BmNode, BmInterface, BmNodePower, BmDhcpReservation, ComputeNode, Flavor, BmNodeEvent, Image];
export const MIGRATIONS_TABLE = 'nova_bm_migrations';

/**
 * The one place that turns a PostgreSQL URL into TypeORM options. `synchronize` is off: the
 * schema comes from migrations only (tests check that the entities agree with them).
 */
export function dataSourceOptions(url: string, extra: { poolSize?: number } = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS.map((m) => m.migration),
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize: extra.poolSize ?? 5,
    applicationName: 'nova-bm',
  };
}
