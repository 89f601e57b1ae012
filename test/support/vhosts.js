// The RabbitMQ vhosts of the tests (integration, peer, e2e) on the machine's broker. Every test
// file runs in a vhost of its own (vhost-environment.js), and tests may make more (amqp.ts
// privateVhost): oslo names its topic queues (`compute`, `scheduler`, …) and `<topic>_fanout`
// exchanges without the control exchange, so two suites on one vhost would share them.
//
// Names: `bmtest.<run>.<what>_<8 hex digits>`, <run> the pid of the jest process of the run
// (BM_TEST_RUN, set by global-setup.js): a vhost whose jest process is gone is a crashed run's
// leftover, and the next run's global setup deletes it.
const { randomBytes } = require('node:crypto');
const { URL } = require('node:url');

const DEFAULT_AMQP_URL = 'rabbit://guest:guest@127.0.0.1:5672/';
const TEST_VHOST = /^bmtest\.(\d+)\./;

/** The broker the tests use, without a vhost of a test file's. */
const baseAmqpUrl = () => process.env.TEST_AMQP_URL ?? DEFAULT_AMQP_URL;

/** The management API of the broker at `amqpUrl`, with its credentials. */
function management(amqpUrl) {
  const u = new URL(amqpUrl);
  const base = process.env.TEST_RABBIT_MANAGEMENT_URL ?? `http://${u.hostname}:15672`;
  const user = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  const auth = `Basic ${Buffer.from(user).toString('base64')}`;
  return async (method, path, body) => {
    const r = await fetch(`${base}/api/${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok && !(method === 'DELETE' && r.status === 404))
      throw new Error(`RabbitMQ management ${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 || method !== 'GET' ? undefined : r.json();
  };
}

/** A fresh test vhost name; `what` says whose it is (a test file's name, a stack's). */
function testVhostName(what) {
  const run = process.env.BM_TEST_RUN ?? String(process.pid);
  const word = what
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 40);
  return `bmtest.${run}.${word}_${randomBytes(4).toString('hex')}`;
}

/** `amqpUrl` pointing at vhost `name`. */
function withVhost(amqpUrl, name) {
  const u = new URL(amqpUrl);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

/** Creates vhost `name` with every permission for the broker user of `amqpUrl`. */
async function createVhost(amqpUrl, name) {
  const api = management(amqpUrl);
  const user = encodeURIComponent(decodeURIComponent(new URL(amqpUrl).username));
  await api('PUT', `vhosts/${encodeURIComponent(name)}`, {});
  await api('PUT', `permissions/${encodeURIComponent(name)}/${user}`, { configure: '.*', write: '.*', read: '.*' });
}

/** Deletes vhost `name` and everything in it (its connections are closed by the broker). */
async function dropVhost(amqpUrl, name) {
  await management(amqpUrl)('DELETE', `vhosts/${encodeURIComponent(name)}`);
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

/** Deletes the test vhosts whose run is over: made by `run` if given, else by any jest process that is gone. */
async function sweepVhosts(amqpUrl, run) {
  const api = management(amqpUrl);
  const gone = [];
  for (const { name } of await api('GET', 'vhosts')) {
    const m = TEST_VHOST.exec(name);
    if (!m || (run === undefined ? alive(Number(m[1])) : m[1] !== String(run))) continue;
    await api('DELETE', `vhosts/${encodeURIComponent(name)}`);
    gone.push(name);
  }
  return gone;
}

module.exports = { baseAmqpUrl, testVhostName, withVhost, createVhost, dropVhost, sweepVhosts };
