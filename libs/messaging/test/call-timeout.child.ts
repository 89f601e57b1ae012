/**
 * `bmctl rpc call --timeout 0.001` in miniature, in a process of its own with Node's default
 * handling of unhandled rejections (the process dies): one call whose timeout fires before the
 * exchange is even declared. Prints `@@ <error name>` and exits 0 if the process survives.
 * Env: AMQP_URL, EXCHANGE, TOPIC.
 */
import { AmqpConnection, RpcClient } from '@bm/messaging';

void (async () => {
  const conn = await AmqpConnection.open({ url: process.env.AMQP_URL!, initialMaxRetries: 0 });
  const client = new RpcClient(conn, { exchange: process.env.EXCHANGE! });
  const outcome = await client.call({ topic: process.env.TOPIC! }, 'anything', {}, { timeout: 0.001 }).then(
    () => 'replied',
    (e: Error) => e.name,
  );
  // Give a stray rejection (the bug) time to surface before saying all is well.
  await new Promise((r) => setTimeout(r, 200));
  process.stdout.write(`@@ ${outcome}\n`);
  await client.close();
  await conn.close();
  process.exit(0);
})();
