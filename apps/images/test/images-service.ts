import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '../../../test/support/amqp';
import { type NovaBmDatabase, createNovaBmDatabase } from '../../../test/support/database';
import { freeTcpPort } from '../../../test/support/ports';
import { type ServiceProcess, serviceEnv, startService } from '../../../test/support/service';

/** The built images service on a scratch database, a free API port and a temporary data_dir. */
export interface ImagesSite {
  db: NovaBmDatabase;
  service: ServiceProcess;
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  dataDir: string;
  /** A scratch directory for the test's own files. */
  work: string;
  stop(): Promise<void>;
}

export async function startImagesService(prefix: string): Promise<ImagesSite> {
  const db = await createNovaBmDatabase(prefix);
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const dataDir = join(work, 'data');
  const port = await freeTcpPort();
  const env = await serviceEnv({ databaseUrl: db.url, exchange: uniqueName('images'), host: 'img-e2e' });
  const service = startService('images', { ...env, BM_API_PORT: String(port), BM_DATA_DIR: dataDir });
  try {
    await service.waitFor('images API (Glance v2) on');
  } catch (e) {
    await service.stop();
    await db.drop();
    throw e;
  }
  return {
    db,
    service,
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    work,
    stop: async () => {
      const code = await service.stop();
      await db.drop();
      rmSync(work, { recursive: true, force: true });
      if (code !== 0) throw new Error(`images exited ${code}:\n${service.output()}`);
    },
  };
}
