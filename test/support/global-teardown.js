// After the integration/e2e runs: remove the exchanges and queues tests made on the machine's
// RabbitMQ (their names are `<prefix>_<8 hex digits>`, see test/support/amqp.ts uniqueName),
// and the topic queues of the test service hosts (`<topic>.cn-<name>`: tests name their hosts
// cn-…), so the broker an operator inspects holds only real ones; and this run's test vhosts that
// a killed worker left (each test file deletes its own, see vhost-environment.js).
const { baseAmqpUrl, sweepVhosts } = require('./vhosts');

const TEST_NAME = /^[a-z.-]+_[0-9a-f]{8}($|[._])|^[a-z-]+\.cn-[a-z0-9-]+$/;

module.exports = async () => {
  const base = process.env.TEST_RABBIT_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
  const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
  const call = (path, method = 'GET') => fetch(`${base}${path}`, { method, headers: { authorization: auth } });
  try {
    for (const kind of ['queues', 'exchanges']) {
      const items = await (await call(`/api/${kind}/%2F`)).json();
      for (const { name } of items) {
        if (TEST_NAME.test(name)) await call(`/api/${kind}/%2F/${encodeURIComponent(name)}`, 'DELETE');
      }
    }
    await sweepVhosts(baseAmqpUrl(), process.pid);
  } catch {
    // No management API: nothing to tidy.
  }
};
