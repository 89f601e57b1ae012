/**
 * A deploy worker process for deploy-node.int.spec.ts (the test kills one mid-deploy): a
 * DeployWorker consuming QUEUE on the broker at AMQP_URL, deploying with realDeployNode on the
 * database DATABASE_URL and the image service GLANCE_URL. netboot's activate_boot and compute's
 * cast are printed as `@@ {json}` lines; `@@ {"ready":true}` once it consumes. SIGTERM stops it
 * cleanly. Run: node -r ts-node/register/transpile-only -r tsconfig-paths/register <this file>.
 */
import { openDataSource } from '@bm/db';
import { AmqpConnection } from '@bm/messaging';
import { DeployWorker } from '../src/deploy-worker';
import { realDeployNode } from './deploy-harness';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const say = (o: Record<string, unknown>) => process.stdout.write(`@@ ${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const ds = await openDataSource(env('DATABASE_URL'));
  const conn = await AmqpConnection.open({ url: env('AMQP_URL') });
  const deploy = realDeployNode({
    ds,
    glanceUrl: env('GLANCE_URL'),
    tmpRoot: env('TMP_ROOT'),
    attacher: { sessionLossTimeoutMs: Number(process.env.SESSION_LOSS_MS ?? 30_000) },
    settings: { donePort: Number(env('DONE_PORT')) },
    activateBoot: (node, rootUuid) => say({ activate_boot: [node, rootUuid] }),
    deployStateChanged: (host, args) => say({ cast: { host, args } }),
  });
  const worker = new DeployWorker(conn, deploy, { prefetch: 1, queue: env('QUEUE') });
  await worker.onApplicationBootstrap();
  say({ ready: true });
  process.once('SIGTERM', () => {
    void (async () => {
      await worker.beforeApplicationShutdown();
      await conn.close();
      await ds.destroy();
      process.exit(0);
    })();
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
