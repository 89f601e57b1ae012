import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { TEST_AMQP_URL, eventually, uniqueName } from '../../../test/support/amqp';
import { AmqpConnection, type Logger, parseTransportUrl } from '.';

const broker = parseTransportUrl(TEST_AMQP_URL).hosts[0];
const creds = `${encodeURIComponent(broker.username)}:${encodeURIComponent(broker.password)}`;
const real = `${creds}@${broker.host.includes(':') ? `[${broker.host}]` : broker.host}:${broker.port}`;

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TCP relay to the real broker that the test can cut. */
async function relay(): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((client) => {
    const up = net.connect(broker.port, broker.host);
    for (const x of [client, up]) {
      sockets.add(x);
      x.on('error', () => undefined);
      x.on('close', () => sockets.delete(x));
    }
    client.pipe(up).pipe(client);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as net.AddressInfo).port,
    cut: async () => {
      const closed = new Promise((r) => s.close(r));
      for (const x of sockets) x.destroy();
      await closed;
    },
  };
}

describe('multi-host transport_url against the real RabbitMQ', () => {
  const vhost = encodeURIComponent(parseTransportUrl(TEST_AMQP_URL).vhost);

  it('skips a dead broker listed first and connects to the next', async () => {
    const log = recorder();
    const url = `rabbit://${creds}@127.0.0.1:${await deadPort()},${real}/${vhost}`;
    const conn = await AmqpConnection.open({ url, logger: log, initialDelayMs: 10, initialMaxRetries: 0 });
    try {
      expect(conn.connected).toBe(true);
      expect(log.lines.join('\n')).toMatch(/unreachable .*; next broker: /);
      const ch = await conn.channel();
      const q = uniqueName('failover');
      await ch.assertQueue(q, { exclusive: true });
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it('fails over to the next broker when the one it used goes away', async () => {
    const log = recorder();
    const r = await relay();
    const url = `rabbit://${creds}@127.0.0.1:${r.port},${real}/${vhost}`;
    const conn = await AmqpConnection.open({ url, logger: log, initialDelayMs: 10, maxDelayMs: 50 });
    try {
      let reconnected = 0;
      conn.on('connect', () => reconnected++);
      await r.cut(); // the relay's port is closed for good: only the second broker is left
      await eventually(() => expect(reconnected).toBe(1), 10000);
      expect(log.lines.join('\n')).toMatch(new RegExp(`127\\.0\\.0\\.1:${r.port} lost; next broker: `));
      await conn.publish('', uniqueName('nobody'), Buffer.from('x'), {});
    } finally {
      await conn.close();
    }
  });
});

describe('TLS to the broker (a Node TLS server with a throwaway CA)', () => {
  let dir: string;
  const pem = (name: string) => join(dir, name);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-amqps-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ca = (name: string) =>
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
      );
    const leaf = (name: string, cn: string, signer: string, ext: string) => {
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=${cn}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      );
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${signer}.pem`,
        '-CAkey',
        `${signer}.key`,
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        `${name}.pem`,
        '-extfile',
        'ext.cnf',
        '-extensions',
        ext,
      );
    };
    writeFileSync(
      join(dir, 'ext.cnf'),
      '[server]\nsubjectAltName=IP:127.0.0.1\n[client]\nextendedKeyUsage=clientAuth\n',
    );
    ca('ca');
    ca('other');
    leaf('server', '127.0.0.1', 'ca', 'server');
    leaf('client', 'compute-host1', 'ca', 'client');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A TLS server that demands a client certificate from the CA; reports what each client showed. */
  async function tlsBroker(): Promise<{ port: number; peers: string[]; close(): void }> {
    const peers: string[] = [];
    const server = tls.createServer(
      {
        key: readFileSync(pem('server.key')),
        cert: readFileSync(pem('server.pem')),
        ca: readFileSync(pem('ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => {
        peers.push(`${s.getPeerCertificate().subject?.CN} ${s.getProtocol()}`);
        s.destroy(); // no AMQP here: the handshake is what is under test
      },
    );
    server.on('tlsClientError', (e) => peers.push(`refused: ${e.message}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, peers, close: () => server.close() };
  }

  const open = (url: string, ssl: object) =>
    AmqpConnection.open({ url, ssl, initialMaxRetries: 0, logger: recorder() }).then(
      async (c) => c.close(),
      (e: Error) => e,
    );

  it('presents the configured client certificate over the configured version (?ssl=1 and amqps://)', async () => {
    const b = await tlsBroker();
    try {
      const ssl = {
        ssl_ca_file: pem('ca.pem'),
        ssl_cert_file: pem('client.pem'),
        ssl_key_file: pem('client.key'),
        ssl_version: 'TLSv1_2',
      };
      await open(`rabbit://u:p@127.0.0.1:${b.port}/?ssl=1`, ssl);
      await open(`amqps://u:p@127.0.0.1:${b.port}/`, ssl);
      await open(`rabbit://u:p@127.0.0.1:${b.port}/`, { ...ssl, ssl: true });
      await eventually(() => expect(b.peers).toEqual(Array(3).fill('compute-host1 TLSv1.2')));
    } finally {
      b.close();
    }
  });

  it('refuses a broker whose certificate is not from ssl_ca_file', async () => {
    const b = await tlsBroker();
    try {
      const err = await open(`amqps://u:p@127.0.0.1:${b.port}/`, {
        ssl_ca_file: pem('other.pem'),
        ssl_cert_file: pem('client.pem'),
        ssl_key_file: pem('client.key'),
      });
      expect(String(err)).toMatch(/self[- ]signed|unable to (verify|get)/i);
      expect(b.peers.filter((p) => !p.startsWith('refused'))).toEqual([]);
    } finally {
      b.close();
    }
  });
});
