/**
 * oslo.messaging's `transport_url` as its rabbit driver reads it:
 *
 *   rabbit://user:pass@host1:5672,user2:pass2@[fd00::2]:5673/vhost?ssl=1
 *
 * A comma-separated list of brokers (a cluster), each with its own credentials and port; one
 * virtual host and one set of query options for all. Credentials and the virtual host are
 * percent-decoded; IPv6 addresses are written in brackets. WHATWG `URL` cannot read this (it
 * takes everything up to the last `@` as the password), hence this parser.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type * as amqp from 'amqplib';

export interface BrokerHost {
  /** Host name or address, without IPv6 brackets. */
  host: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  hosts: BrokerHost[];
  /** Decoded; `/` when the URL names none. */
  vhost: string;
  /** Query options (`ssl`, `heartbeat`, `frameMax`, …), decoded; the first of a repeated key wins. */
  query: Record<string, string>;
  /** `amqps://`, or oslo's `?ssl=1` / `?ssl=true`. */
  ssl: boolean;
}

export class InvalidTransportUrl extends Error {
  override name = 'InvalidTransportUrl';
}

const SCHEMES = new Set(['rabbit', 'amqp', 'amqps']);
const AMQP_PORT = 5672;
const AMQPS_PORT = 5671;
/** RabbitMQ's defaults, which oslo's rabbit driver uses for a host written without credentials. */
const DEFAULT_USER = 'guest';

/** Parses an oslo transport_url (`forceSsl`: oslo's `ssl = true`); a clear InvalidTransportUrl for anything it cannot connect with. */
export function parseTransportUrl(url: string, forceSsl = false): TransportUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(url);
  if (!m) throw new InvalidTransportUrl(`transport_url is not a URL (scheme://hosts/vhost)`);
  const [, schemeRaw, netloc, path, search = ''] = m;
  const scheme = schemeRaw.toLowerCase();
  if (!SCHEMES.has(scheme))
    throw new InvalidTransportUrl(`transport_url scheme ${scheme}:// is not rabbit://, amqp:// or amqps://`);

  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(search)) if (!(k in query)) query[k] = v;
  const ssl = forceSsl || scheme === 'amqps' || isTrue(query.ssl);

  const hosts = netloc
    .split(',')
    .filter((h) => h !== '')
    .map((h) => parseHost(h, ssl ? AMQPS_PORT : AMQP_PORT));
  if (hosts.length === 0) throw new InvalidTransportUrl('transport_url names no broker host');

  const vhostText = path.replace(/^\//, '');
  return { hosts, vhost: vhostText === '' ? '/' : decode(vhostText, 'virtual host'), query, ssl };
}

function parseHost(text: string, defaultPort: number): BrokerHost {
  // The host part cannot hold an `@`; credentials can (percent-encoded or not), so split at the last.
  const at = text.lastIndexOf('@');
  const userinfo = at >= 0 ? text.slice(0, at) : undefined;
  const hostport = at >= 0 ? text.slice(at + 1) : text;
  let username = DEFAULT_USER;
  let password = DEFAULT_USER;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'user name');
    password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'password') : '';
  }
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) throw new InvalidTransportUrl(`transport_url host ${hostport} lacks its closing ]`);
    host = hostport.slice(1, end);
    const rest = hostport.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':'))
      throw new InvalidTransportUrl(`transport_url host ${hostport}: junk after ]`);
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : undefined;
  }
  if (host === '') throw new InvalidTransportUrl(`transport_url has a broker without a host name`);
  let port = defaultPort;
  if (portText !== undefined && portText !== '') {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      throw new InvalidTransportUrl(`transport_url port ${portText} of ${host} is not a port number`);
    port = Number(portText);
  }
  return { host, port, username, password };
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new InvalidTransportUrl(`transport_url ${what} has a bad %-escape`);
  }
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** What amqplib's connect() takes for one broker of the URL. */
export function connectTarget(url: TransportUrl, host: BrokerHost, heartbeat = 60): amqp.Options.Connect {
  const int = (k: string) => (url.query[k] !== undefined ? Number(url.query[k]) : undefined);
  return {
    protocol: url.ssl ? 'amqps' : 'amqp',
    hostname: host.host,
    port: host.port,
    username: host.username,
    password: host.password,
    // amqplib percent-decodes the vhost of this object form once more: hand it encoded.
    vhost: encodeURIComponent(url.vhost),
    heartbeat: int('heartbeat') ?? heartbeat,
    frameMax: int('frameMax'),
    channelMax: int('channelMax'),
    locale: url.query.locale,
  };
}

/** The first broker of an oslo transport_url as a plain `amqp://` (or `amqps://`) URL. */
export function amqpUrl(transportUrl: string, heartbeat = 60): string {
  const url = parseTransportUrl(transportUrl);
  const h = url.hosts[0];
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  const q = new URLSearchParams(url.query);
  q.delete('ssl');
  if (!q.has('heartbeat')) q.set('heartbeat', String(heartbeat));
  const auth = `${encodeURIComponent(h.username)}:${encodeURIComponent(h.password)}`;
  return `${url.ssl ? 'amqps' : 'amqp'}://${auth}@${host}:${h.port}/${encodeURIComponent(url.vhost)}?${q}`;
}

/** oslo's `[oslo_messaging_rabbit]` TLS options (file paths; '' = unset). */
export interface RabbitSslOptions {
  /** Use TLS even for a `rabbit://` URL without `?ssl=1`. */
  ssl?: boolean;
  /** CA bundle the broker's certificate must chain to ('' = the system's CAs). */
  ssl_ca_file?: string;
  /** Client certificate and key, for brokers that verify peers. */
  ssl_cert_file?: string;
  ssl_key_file?: string;
  /** oslo spelling (`TLSv1_2`, `TLSv1_3`): the only protocol version offered. */
  ssl_version?: string;
}

const TLS_VERSIONS: Record<string, 'TLSv1.2' | 'TLSv1.3'> = {
  tlsv1_2: 'TLSv1.2',
  'tlsv1.2': 'TLSv1.2',
  tlsv1_3: 'TLSv1.3',
  'tlsv1.3': 'TLSv1.3',
};

/**
 * The socket options for TLS: certificates read once, here, so a missing file fails the start
 * with its name rather than every reconnect. The broker's certificate is always verified.
 */
export function tlsSocketOptions(ssl: RabbitSslOptions): TlsConnectionOptions {
  const read = (path: string | undefined, what: string): Buffer | undefined => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new InvalidTransportUrl(`[oslo_messaging_rabbit] ${what} ${path}: ${(e as Error).message}`);
    }
  };
  const out: TlsConnectionOptions = { rejectUnauthorized: true };
  const ca = read(ssl.ssl_ca_file, 'ssl_ca_file');
  const cert = read(ssl.ssl_cert_file, 'ssl_cert_file');
  const key = read(ssl.ssl_key_file, 'ssl_key_file');
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (ssl.ssl_version) {
    const v = TLS_VERSIONS[ssl.ssl_version.toLowerCase()];
    if (!v)
      throw new InvalidTransportUrl(`[oslo_messaging_rabbit] ssl_version ${ssl.ssl_version}: use TLSv1_2 or TLSv1_3`);
    out.minVersion = v;
    out.maxVersion = v;
  }
  return out;
}
