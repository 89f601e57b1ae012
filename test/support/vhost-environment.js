// The test environment of the integration, peer and e2e projects: Node's, plus a RabbitMQ vhost of
// the test file's own. It is made before the file is loaded (TEST_AMQP_URL, as the file sees it,
// names it, so test/support/amqp.ts and everything started from it use it) and deleted after the
// file's last hook, passed or failed. See vhosts.js.
const { basename } = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { TestEnvironment } = require('jest-environment-node');
const { baseAmqpUrl, createVhost, dropVhost, testVhostName, withVhost } = require('./vhosts');

class VhostEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testFile = basename(context.testPath).replace(/\.(int|peer|e2e)\.spec\.ts$/, '');
  }

  async setup() {
    await super.setup();
    const base = baseAmqpUrl();
    const name = testVhostName(this.testFile);
    // Other tests restart the broker: try for a while before failing the file.
    for (const until = Date.now() + 30_000; ;) {
      try {
        await createVhost(base, name);
        break;
      } catch (e) {
        if (Date.now() > until)
          throw new Error(
            `cannot make the test file's RabbitMQ vhost (is the broker up with rabbitmq_management? scripts/services.sh): ${e.message}`,
          );
        await sleep(500);
      }
    }
    this.vhost = name;
    this.global.process.env.TEST_AMQP_URL = withVhost(base, name);
  }

  async teardown() {
    if (this.vhost)
      await dropVhost(baseAmqpUrl(), this.vhost).catch((e) =>
        // The run's global teardown tries again (sweepVhosts).
        process.stderr.write(`could not delete vhost ${this.vhost}: ${e.message}\n`),
      );
    await super.teardown();
  }
}

module.exports = VhostEnvironment;
