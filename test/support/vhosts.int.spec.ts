import { spawnSync } from 'node:child_process';
import { AmqpConnection } from '@bm/messaging';
import { TEST_AMQP_URL, TEST_VHOST, privateVhost } from './amqp';
import { createVhost, dropVhost, sweepVhosts } from './vhosts';

// Each test file on its own vhost (vhost-environment.js): oslo's topic queues and fanout exchanges
// carry no control exchange in their names, so on a shared vhost two suites would meet there.
const api = async (path: string) => {
  const u = new URL(TEST_AMQP_URL);
  const r = await fetch(`http://${u.hostname}:15672/api/${path}`, {
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  });
  return { status: r.status, body: r.ok ? ((await r.json()) as Record<string, unknown>) : undefined };
};
const vhostOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

describe('the test file runs in a RabbitMQ vhost of its own', () => {
  it('TEST_AMQP_URL names a vhost of this run and this file, which exists', async () => {
    const vhost = TEST_VHOST;
    expect(vhostOf(TEST_AMQP_URL)).toBe(vhost);
    expect(vhost).toMatch(new RegExp(`^bmtest\\.${process.env.BM_TEST_RUN}\\.vhosts_[0-9a-f]{8}$`));
    expect((await api(`vhosts/${encodeURIComponent(vhost)}`)).status).toBe(200);
  });

  it("oslo's topic queue `scheduler` declared here is in this file's vhost, not in the shared one", async () => {
    const conn = await AmqpConnection.open({ url: TEST_AMQP_URL });
    try {
      const ch = await conn.channel();
      await ch.assertQueue('scheduler', { exclusive: true });
      const q = await api(`queues/${encodeURIComponent(vhostOf(TEST_AMQP_URL))}/scheduler`);
      expect(q.status).toBe(200);
      expect(q.body?.vhost).toBe(vhostOf(TEST_AMQP_URL));
    } finally {
      await conn.close();
    }
  });

  it('privateVhost makes one more, named for this run, and drops it', async () => {
    const extra = await privateVhost('extra');
    expect(extra.name).toMatch(new RegExp(`^bmtest\\.${process.env.BM_TEST_RUN}\\.extra_[0-9a-f]{8}$`));
    expect(vhostOf(extra.transportUrl)).toBe(extra.name);
    expect((await api(`vhosts/${encodeURIComponent(extra.name)}`)).status).toBe(200);
    await extra.drop();
    expect((await api(`vhosts/${encodeURIComponent(extra.name)}`)).status).toBe(404);
  });

  it("the sweep deletes a crashed run's vhosts (its jest process gone) and keeps a live run's", async () => {
    // A pid that was just used and is now free: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const crashed = `bmtest.${dead}.crashed_0000abcd`;
    const live = `bmtest.${process.ppid}.live_0000abcd`;
    await createVhost(TEST_AMQP_URL, crashed);
    await createVhost(TEST_AMQP_URL, live);
    try {
      const gone = await sweepVhosts(TEST_AMQP_URL);
      expect(gone).toContain(crashed);
      expect(gone).not.toContain(live);
      expect((await api(`vhosts/${encodeURIComponent(crashed)}`)).status).toBe(404);
      expect((await api(`vhosts/${encodeURIComponent(live)}`)).status).toBe(200);
      // The file's own vhost belongs to this (live) run: kept.
      expect(gone).not.toContain(vhostOf(TEST_AMQP_URL));
    } finally {
      for (const v of [crashed, live]) await dropVhost(TEST_AMQP_URL, v);
    }
  });
});
