import { uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { freeTcpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

/** The compute host the tests' nodes are enrolled on. */
export const RACK_HOST = 'rack-e2e';

/** The built rack service on a scratch nova_bm database and a free port. */
export interface RackSite {
  db: NovaBmDatabase;
  service: ServiceProcess;
  /** http://127.0.0.1:<port>/ */
  url: string;
  stop(): Promise<void>;
}

export async function startRack(prefix: string): Promise<RackSite> {
  const db = await createNovaBmDatabase(prefix);
  const port = await freeTcpPort();
  const env = await serviceEnv({ databaseUrl: db.url, exchange: uniqueName('rack'), host: RACK_HOST });
  const service = startService('rack', { ...env, BM_RACK_PORT: String(port) });
  try {
    await service.waitFor('rack view on http://127.0.0.1:');
  } catch (e) {
    await service.stop();
    await db.drop();
    throw e;
  }
  return {
    db,
    service,
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      const code = await service.stop();
      await db.drop();
      if (code !== 0) throw new Error(`rack exited ${code}:\n${service.output()}`);
    },
  };
}
