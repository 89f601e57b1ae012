import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { createScratchDatabase, type ScratchDatabase } from './support/database';

// libs/db/src/data-source.ts serves the TypeORM CLI (npm run typeorm -- …) with our migrations.
const ROOT = resolve(__dirname, '..');
const run = promisify(execFile);

describe('TypeORM CLI data source', () => {
  let db: ScratchDatabase;
  beforeAll(async () => {
    db = await createScratchDatabase('bm_typeorm');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs and shows our migrations', async () => {
    const env = { PATH: process.env.PATH!, DATABASE_URL: db.url };
    const cli = ['typeorm-ts-node-commonjs', '-d', 'libs/db/src/data-source.ts'];
    await run('npx', [...cli, 'migration:run'], { cwd: ROOT, env });
    const { stdout } = await run('npx', [...cli, 'migration:show'], { cwd: ROOT, env });
    expect(stdout).toContain('[X] 1 NovaBmIcehouse1700000000010');
    expect(stdout).toContain('[X] 2 NodeCpuArch1700000000011');
    expect(stdout).toContain('[X] 3 NodePower1700000000012');
    expect(stdout).toContain('[X] 4 DhcpReservations1700000000013');
    expect(stdout).toContain('[X] 5 ComputeNodes1700000000014');
    expect(stdout).toContain('[X] 6 Flavors1700000000015');
    expect(stdout).toContain('[X] 7 NodeEvents1700000000016');
    expect(stdout).toContain('[X] 8 Images1700000000017');
  }, 60_000);
});
