// Runs inside a test network namespace (see netns.ts, forwardHostPort): listens on
// 127.0.0.1:<port> there and relays each connection to the Unix socket <path>, which the test
// process relays on to the host's 127.0.0.1:<port>. Prints READY once listening.
//   node unix-relay.js <port> <path>
const net = require('node:net');

const [port, path] = process.argv.slice(2);
net
  .createServer((c) => {
    const u = net.createConnection(path);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  })
  .listen(Number(port), '127.0.0.1', () => console.log('READY'));
process.on('SIGTERM', () => process.exit(0));
