import { type LookupOneOptions, lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

/**
 * Name resolution for a TFTP socket whose peer is always an IP literal (the server's transfer
 * sockets answer a client's rinfo; the client talks to the server's address): dgram's default
 * (dns.lookup) defers every send by a process.nextTick for one. A host name still goes to DNS.
 */
let lastLiteral = '';
export function literalLookup(
  address: string,
  family: LookupOneOptions | number,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const f = typeof family === 'number' ? family : ((family.family as number | undefined) ?? 0);
  if (address === lastLiteral || isIP(address) !== 0) {
    lastLiteral = address; // a transfer sends to the same literal again and again: skip the parse
    cb(null, address, f);
  } else dnsLookup(address, f, cb);
}
