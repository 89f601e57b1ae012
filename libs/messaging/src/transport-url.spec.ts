import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { managementUrlFor } from './management';
import { InvalidTransportUrl, amqpUrl, connectTarget, parseTransportUrl, tlsSocketOptions } from './transport-url';

describe('parseTransportUrl (oslo transport_url)', () => {
  it('reads every broker of a cluster URL with its own credentials and port', () => {
    expect(parseTransportUrl('rabbit://u:p@h1:5672,u2:p2@h2:5673/vh?heartbeat=30')).toEqual({
      hosts: [
        { host: 'h1', port: 5672, username: 'u', password: 'p' },
        { host: 'h2', port: 5673, username: 'u2', password: 'p2' },
      ],
      vhost: 'vh',
      query: { heartbeat: '30' },
      ssl: false,
    });
  });

  it.each([
    // [url, hosts as user:pass@host:port, vhost]
    ['rabbit://guest:guest@127.0.0.1:5672/', ['guest:guest@127.0.0.1:5672'], '/'],
    ['rabbit://h', ['guest:guest@h:5672'], '/'],
    ['rabbit://u:p@h1,u:p@h2/', ['u:p@h1:5672', 'u:p@h2:5672'], '/'],
    ['rabbit://a%40b:p%2C%40%3A@h/', ['a@b:p,@:@h:5672'], '/'],
    ['rabbit://u:p@ss@h/', ['u:p@ss@h:5672'], '/'],
    ['rabbit://u:p:q@h/', ['u:p:q@h:5672'], '/'],
    ['rabbit://u@h/', ['u:@h:5672'], '/'],
    ['rabbit://u:p@[::1]:5673,u:p@[fd00::2]/x', ['u:p@::1:5673', 'u:p@fd00::2:5672'], 'x'],
    ['amqp://u:p@h/%2F', ['u:p@h:5672'], '/'],
    ['amqp://u:p@h/nova%2Fbm', ['u:p@h:5672'], 'nova/bm'],
    ['amqps://u:p@h/', ['u:p@h:5671'], '/'],
    ['rabbit://u:p@h,,u:p@h2/', ['u:p@h:5672', 'u:p@h2:5672'], '/'],
  ])('%s', (url, hosts, vhost) => {
    const got = parseTransportUrl(url);
    expect(got.hosts.map((h) => `${h.username}:${h.password}@${h.host}:${h.port}`)).toEqual(hosts);
    expect(got.vhost).toBe(vhost);
  });

  it.each([
    ['rabbit://h?ssl=1', true],
    ['rabbit://h?ssl=true', true],
    ['rabbit://h?ssl=0', false],
    ['amqps://h', true],
    ['rabbit://h', false],
  ])('TLS from %s: %s', (url, ssl) => {
    const got = parseTransportUrl(url);
    expect(got.ssl).toBe(ssl);
    // oslo's ssl without a port: the AMQPS port.
    expect(got.hosts[0].port).toBe(ssl ? 5671 : 5672);
  });

  it('keeps a given port under ssl, and [oslo_messaging_rabbit] ssl forces TLS', () => {
    expect(parseTransportUrl('rabbit://h:5672?ssl=1').hosts[0].port).toBe(5672);
    expect(parseTransportUrl('rabbit://h', true).ssl).toBe(true);
  });

  it.each([
    ['http://h/', /scheme http/],
    ['rabbit:nohost', /not a URL/],
    ['rabbit:///', /no broker host/],
    ['rabbit://u:p@/', /without a host/],
    ['rabbit://h:99999/', /not a port/],
    ['rabbit://h:x/', /not a port/],
    ['rabbit://[::1/', /closing \]/],
    ['rabbit://[::1]x/', /junk/],
    ['rabbit://u:%zz@h/', /password has a bad %-escape/],
  ])('refuses %s', (url, message) => {
    expect(() => parseTransportUrl(url)).toThrow(InvalidTransportUrl);
    expect(() => parseTransportUrl(url)).toThrow(message);
  });

  it('gives amqplib each broker with its own credentials, vhost encoded once more', () => {
    const url = parseTransportUrl('rabbit://u:p@h1,v:q@h2:5680/a%25b?heartbeat=7&ssl=1');
    expect(connectTarget(url, url.hosts[1])).toMatchObject({
      protocol: 'amqps',
      hostname: 'h2',
      port: 5680,
      username: 'v',
      password: 'q',
      vhost: 'a%25b',
      heartbeat: 7,
    });
  });

  it("managementUrlFor: the first broker's management API, with its credentials", () => {
    expect(managementUrlFor('rabbit://u%40:p%2C@h1:5673,v:q@h2/vh')).toBe('http://u%40:p%2C@h1:15672/');
    expect(managementUrlFor('rabbit://u:p@[fd00::1],v:q@h2/')).toBe('http://u:p@[fd00::1]:15672/');
  });

  it('amqpUrl: the first broker as an amqp:// URL', () => {
    expect(amqpUrl('rabbit://u%40:p@[::1]:5673,x:y@h2/v?frameMax=8192')).toBe(
      'amqp://u%40:p@[::1]:5673/v?frameMax=8192&heartbeat=60',
    );
    expect(amqpUrl('rabbit://guest:guest@127.0.0.1:5672/')).toBe('amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=60');
  });
});

describe('tlsSocketOptions ([oslo_messaging_rabbit] ssl_*)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm-tls-'));
  const file = (name: string) => {
    const p = join(dir, name);
    writeFileSync(p, `-- ${name} --`);
    return p;
  };

  it('reads the CA, certificate and key and pins the version', () => {
    const o = tlsSocketOptions({
      ssl_ca_file: file('ca.pem'),
      ssl_cert_file: file('c.pem'),
      ssl_key_file: file('k.pem'),
      ssl_version: 'TLSv1_2',
    });
    expect(o.ca?.toString()).toBe('-- ca.pem --');
    expect(o.cert?.toString()).toBe('-- c.pem --');
    expect(o.key?.toString()).toBe('-- k.pem --');
    expect(o).toMatchObject({ rejectUnauthorized: true, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  });

  it('names the option and file it cannot read, and an unknown version', () => {
    expect(() => tlsSocketOptions({ ssl_ca_file: join(dir, 'missing.pem') })).toThrow(/ssl_ca_file .*missing\.pem/);
    expect(() => tlsSocketOptions({ ssl_version: 'SSLv3' })).toThrow(/ssl_version SSLv3/);
  });
});
