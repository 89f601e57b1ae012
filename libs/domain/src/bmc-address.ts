import { isIP } from 'node:net';

export const IPMI_PORT = 623;

export interface BmcAddress {
  host: string;
  port: number;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * Parses a BMC address (`pm_address`): an IPv4 address, a host name or a bracketed IPv6
 * address, with an optional `:port` (virtual BMCs listen on their own ports; real ones on 623).
 * Returns an error message string for bad input.
 */
export function parseBmcAddress(input: string): BmcAddress | string {
  const s = input.trim();
  if (s === '') return 'a BMC address is required';
  let host = s;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (isIP(host) !== 6) return `'${s}' is not a valid IPv6 address`;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      if (s.indexOf(':') !== colon) return `'${s}': write an IPv6 BMC address as [addr] or [addr]:port`;
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
    const looksNumeric = /^[0-9.]+$/.test(host);
    if (looksNumeric ? isIP(host) !== 4 : !HOSTNAME_RE.test(host)) {
      return `'${host}' is not an IP address or host name`;
    }
  }
  let port = IPMI_PORT;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || +portText < 1 || +portText > 65535) {
      return `port '${portText}' must be a number from 1 to 65535`;
    }
    port = +portText;
  }
  return { host, port };
}

export function formatBmcAddress(a: BmcAddress): string {
  const host = isIP(a.host) === 6 ? `[${a.host}]` : a.host;
  return a.port === IPMI_PORT ? host : `${host}:${a.port}`;
}
