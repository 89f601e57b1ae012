import { EventEmitter } from 'node:events';
import type { AmqpConnection } from './connection';
import { type NotificationDriver, Notifier } from './notifications';

/** A connection that records what would reach the broker, and the log. */
function recordingConnection() {
  const published: { key: string; body: Record<string, unknown> }[] = [];
  const declared: string[] = [];
  const logged: string[] = [];
  const conn = Object.assign(new EventEmitter(), {
    logger: {
      log: (m: string) => logged.push(m),
      warn: (m: string) => logged.push(m),
      error: (m: string) => logged.push(m),
    },
    channel: async () => ({
      assertExchange: async () => undefined,
      assertQueue: async (q: string) => void declared.push(q),
      bindQueue: async () => undefined,
      close: async () => undefined,
    }),
    publish: async (_x: string, key: string, body: Buffer) =>
      void published.push({ key, body: JSON.parse(body.toString()) }),
  });
  return { conn: conn as unknown as AmqpConnection, published, declared, logged };
}

async function send(drivers?: NotificationDriver[]) {
  const r = recordingConnection();
  const notifier = new Notifier(r.conn, { exchange: 'nova', publisherId: 'compute.h', drivers });
  await notifier.info('compute.instance.create.end', { instance_id: 'i-1' });
  return r;
}

describe("Notifier drivers (oslo's [oslo_messaging_notifications] driver)", () => {
  it('messagingv2 (our default): the 2.0 envelope on notifications.info', async () => {
    const r = await send();
    expect(r.published.map((p) => [p.key, 'oslo.version' in p.body])).toEqual([['notifications.info', true]]);
  });

  it('none, or noop: nothing declared, nothing sent (a broker nobody reads cannot fill up)', async () => {
    for (const drivers of [[], ['noop']] as NotificationDriver[][]) {
      const r = await send(drivers);
      expect({ drivers, published: r.published, declared: r.declared }).toEqual({
        drivers,
        published: [],
        declared: [],
      });
    }
  });

  it('log: one log line, nothing on the broker', async () => {
    const r = await send(['log']);
    expect(r.published).toEqual([]);
    expect(r.logged).toEqual([
      expect.stringMatching(/^notification compute\.instance\.create\.end \(info\): \{.*"i-1"/),
    ]);
  });

  it('messaging: the bare 1.0 form', async () => {
    const r = await send(['messaging']);
    expect(r.published).toEqual([
      { key: 'notifications.info', body: expect.objectContaining({ event_type: 'compute.instance.create.end' }) },
    ]);
    expect('oslo.version' in r.published[0].body).toBe(false);
  });
});
