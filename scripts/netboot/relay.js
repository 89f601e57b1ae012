// A byte relay between a TCP port and a Unix socket, to reach the host's PostgreSQL and RabbitMQ
// from inside a network namespace (Unix sockets are files: they cross namespaces, TCP does not).
// Each endpoint is `host:port` or an absolute socket path; prints READY once listening.
//   node relay.js <listen> <connect>
//   inside the namespace:  node relay.js 127.0.0.1:5432 /run/bmlab-5432.sock
//   on the host:           node relay.js /run/bmlab-5432.sock 127.0.0.1:5432
const net = require('node:net');
const fs = require('node:fs');

const endpoint = (e) =>
  e.startsWith('/')
    ? { path: e }
    : { host: e.slice(0, e.lastIndexOf(':')), port: Number(e.slice(e.lastIndexOf(':') + 1)) };
const [listen, connect] = process.argv.slice(2).map(endpoint);
if (!listen || !connect) {
  console.error('usage: node relay.js <listen host:port|/socket> <connect host:port|/socket>');
  process.exit(64);
}
if (listen.path) fs.rmSync(listen.path, { force: true });
net
  .createServer((c) => {
    const u = net.createConnection(connect);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  })
  .listen(listen, () => console.log('READY'));
const bye = () => {
  if (listen.path) fs.rmSync(listen.path, { force: true });
  process.exit(0);
};
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
