import { ManualClock } from '@bm/core';
import { BmcUnreachable } from './errors';
import { type DatagramSocket, IpmiClient } from './client';

/** A BMC that never answers: records when (on the clock) each datagram went out. */
class SilentBmc implements DatagramSocket {
  readonly sentAt: number[] = [];
  constructor(private readonly clock: ManualClock) {}
  send(): void {
    this.sentAt.push(this.clock.now());
  }
  on(): this {
    return this;
  }
  close(): void {}
}

const flush = () => new Promise((r) => setImmediate(r));
const BMC = { host: '127.0.0.1', port: 6230, user: 'admin', password: 'pw' };

describe('IpmiClient on a ManualClock', () => {
  it('retransmits with a doubling timeout and gives up at the deadline, all on its clock', async () => {
    const clock = new ManualClock(50_000);
    const socket = new SilentBmc(clock);
    const client = new IpmiClient({ socket, clock, retryMs: 250, maxRetryMs: 2000, keepaliveMs: 0 });
    let outcome: unknown;
    void client.powerStatus(BMC, 1000).then(
      () => (outcome = 'answered'),
      (e) => (outcome = e),
    );
    await flush();
    expect(socket.sentAt).toEqual([50_000]);
    clock.advance(249);
    await flush();
    expect(socket.sentAt).toHaveLength(1); // the first timeout is 250 ms
    for (const step of [1, 500, 250]) {
      clock.advance(step);
      await flush();
    }
    // 250, then 500, then what is left of the deadline (250, not 1000): 3 attempts in all.
    expect(socket.sentAt).toEqual([50_000, 50_250, 50_750]);
    expect([client.retransmits, client.sessionsOpened]).toEqual([2, 0]); // the metrics' counters
    expect(outcome).toBeInstanceOf(BmcUnreachable);
    expect((outcome as Error).message).toBe(
      'BMC 127.0.0.1:6230: no answer to Get Channel Authentication Capabilities within the deadline (3 attempts)',
    );
    await client.close();
  });

  it('keeps a minimum interval between two datagrams to one BMC, on its clock', async () => {
    const clock = new ManualClock();
    const socket = new SilentBmc(clock);
    const client = new IpmiClient({ socket, clock, retryMs: 100, minIntervalMs: 300, keepaliveMs: 0 });
    const first = client.powerStatus(BMC, 100).catch((e) => e);
    await flush();
    clock.advance(100); // the first operation's deadline
    expect(await first).toBeInstanceOf(BmcUnreachable);
    const second = client.powerStatus(BMC, 1000).catch((e) => e);
    await flush();
    expect(socket.sentAt).toEqual([0]); // 100 ms after the last datagram: 200 ms to wait
    clock.advance(200);
    await flush();
    expect(socket.sentAt).toEqual([0, 300]);
    clock.advance(1000);
    await flush();
    expect(await second).toBeInstanceOf(BmcUnreachable);
    await client.close();
  });
});
