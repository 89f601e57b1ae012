/**
 * Data source for the TypeORM CLI (`npm run typeorm -- migration:show`). Reads the database
 * URL the same way the services do (env DATABASE_URL / BM_SQL_CONNECTION, or the nova.conf
 * named by BM_CONFIG_FILE). The CLI does not know our path aliases (@bm/…): tsconfig-paths
 * teaches them to Node before the libs load.
 */
import 'tsconfig-paths/register';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../config/src';
import { dataSourceOptions } from './data-source-options';

export default new DataSource(dataSourceOptions(loadConfig().baremetal.sql_connection));
