const { baseAmqpUrl, sweepVhosts } = require('./vhosts');

module.exports = async () => {
  // Integration and e2e tests run in a time zone far from UTC, so that any place where local
  // time leaks into stored timestamps shows up as a failure.
  process.env.TZ = 'Asia/Tokyo';
  // This run's test vhosts are named after this process (vhosts.js); the workers inherit it.
  process.env.BM_TEST_RUN = String(process.pid);
  // The vhosts of runs that crashed (killed before their teardown): their jest process is gone.
  try {
    const gone = await sweepVhosts(baseAmqpUrl());
    if (gone.length) process.stderr.write(`deleted ${gone.length} test vhost(s) left by crashed runs\n`);
  } catch {
    // No broker or no management API: the tests that need them say so.
  }
};
