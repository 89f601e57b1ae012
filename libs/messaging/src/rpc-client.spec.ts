import { EventEmitter } from 'node:events';
import type { AmqpConnection } from './connection';
import { RpcClient } from './rpc-client';
import { MAX_TIMER_MS } from './timers';

/** A connection whose exchange declaration takes `declareMs` and whose publishes are recorded (the
 * crash of a timeout firing first is proven in a process of its own: flow.int.spec.ts). */
function slowConnection(declareMs: number) {
  const published: { options: Record<string, unknown>; o: unknown }[] = [];
  const conn = Object.assign(new EventEmitter(), {
    logger: { log() {}, warn() {}, error() {} },
    register: async () => () => undefined,
    waitForConnection: async () => true,
    disconnects: 0,
    publishTimeoutMs: 30_000,
    channel: async () => ({
      assertExchange: () => new Promise((r) => setTimeout(r, declareMs)),
      close: async () => undefined,
    }),
    publish: async (_x: string, _k: string, _b: Buffer, options: Record<string, unknown>, o: unknown) => {
      published.push({ options, o });
    },
  });
  return { conn: conn as unknown as AmqpConnection, published };
}

describe('RpcClient.call timeouts', () => {
  it('a timeout beyond what a timer holds waits (it does not overflow into 1 ms)', async () => {
    const { conn, published } = slowConnection(0);
    const client = new RpcClient(conn, { exchange: 'x' });
    const outcome = client.call({ topic: 't' }, 'm', {}, { timeout: 3_000_000 }).then(
      () => 'replied',
      (e: Error) => e.name,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(await Promise.race([outcome, 'still waiting'])).toBe('still waiting');
    expect(published[0].options.expiration).toBe(String(MAX_TIMER_MS));
    // The publish gets what is left of the call's deadline.
    const { timeoutMs } = published[0].o as { timeoutMs: number };
    expect(timeoutMs).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(timeoutMs).toBeGreaterThan(MAX_TIMER_MS - 1000);
    await client.close();
    expect(await outcome).toBe('ConnectionLost');
  });
});
