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
import { guardedPg } from './connection-lost';

export const ENTITIES = [BmNode, BmInterface, BmNodePower, BmDhcpReservation, ComputeNode, Flavor, BmNodeEvent, Image];
export const MIGRATIONS_TABLE = 'nova_bm_migrations';

/** How long the database may make a caller wait (`[baremetal] sql_*_timeout`, in milliseconds). */
export interface DatabaseLimits {
  poolSize?: number;
  /** To get a connection, a new one or one from the pool. */
  connectTimeoutMs?: number;
  /** A statement, or a transaction left idle, before PostgreSQL cancels it; 0 = no limit. */
  statementTimeoutMs?: number;
  /** Hears a lent-out connection's loss (guardedPg); the call on it fails and is retried. */
  onConnectionError?: (e: Error) => void;
}

/** The options' defaults: a dead or stuck database fails a call in seconds, never hangs it. */
export const DEFAULT_LIMITS = {
  poolSize: 5,
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
} as const satisfies Required<Omit<DatabaseLimits, 'onConnectionError'>>;

/**
 * How much longer than the server's statement timeout the client waits for an answer: the
 * server's own cancellation (a clear error) comes first; the client's only when the server is
 * gone without a word (a network partition).
 */
const CLIENT_GRACE_MS = 5_000;

/** The limits `[baremetal]` sets (seconds there). */
export function databaseLimits(o: { sql_connect_timeout: number; sql_statement_timeout: number }): DatabaseLimits {
  return { connectTimeoutMs: o.sql_connect_timeout * 1000, statementTimeoutMs: o.sql_statement_timeout * 1000 };
}

/**
 * The one place that turns a PostgreSQL URL into TypeORM options. `synchronize` is off: the
 * schema comes from migrations only (tests check that the entities agree with them).
 *
 * No call waits on the database without end: a connection is had within `connectTimeoutMs`;
 * PostgreSQL cancels a statement (SQLSTATE 57014) or ends a transaction left idle after
 * `statementTimeoutMs`; and the client gives up on an answer a little later (`query_timeout`),
 * for a server that vanished. So the periodic tasks a stopping service waits for end, and the
 * pool closes (closing does not wait for the server).
 */
export function dataSourceOptions(url: string, limits: DatabaseLimits = {}): DataSourceOptions {
  const l = { ...DEFAULT_LIMITS, ...limits };
  return {
    type: 'postgres',
    // A connection the server ends while it is lent out must not end the process (guardedPg).
    driver: guardedPg(limits.onConnectionError),
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS.map((m) => m.migration),
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize: l.poolSize,
    applicationName: 'nova-bm',
    connectTimeoutMS: l.connectTimeoutMs,
    extra: {
      statement_timeout: l.statementTimeoutMs,
      idle_in_transaction_session_timeout: l.statementTimeoutMs,
      // A timer holds at most 2^31 - 1 ms; a longer one would fire at once.
      ...(l.statementTimeoutMs ? { query_timeout: Math.min(l.statementTimeoutMs + CLIENT_GRACE_MS, 2 ** 31 - 1) } : {}),
    },
  };
}
