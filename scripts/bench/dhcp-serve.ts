/**
 * bench:dhcp helper: our DHCP server alone (no TFTP, no database, no bus, no logging), for the
 * server network namespace that scripts/bench/dhcp.ts sets up. Enrolls exactly the MACs perfdhcp
 * generates for `-b mac=BASE -R COUNT` (BASE + 0 … BASE + COUNT-1) and hands them addresses from
 * RANGE like the real service does. Configuration from the environment:
 *   ADDRESS   our address (server id, next-server), e.g. 10.78.0.1
 *   RANGE     FIRST,LAST of the lease range, e.g. 10.78.1.0,10.78.255.254
 *   NETMASK   e.g. 255.255.0.0
 *   LEASE_S   lease time in seconds
 *   MAC_BASE  first enrolled MAC, e.g. 52:54:00:00:00:00
 *   MACS      how many consecutive MACs from MAC_BASE are enrolled
 * Prints READY once bound to 0.0.0.0:67; on SIGTERM prints one JSON line of counters and exits.
 */
import { DhcpServer, InMemoryLeaseStore, type DhcpResponderConfig } from '../../libs/dhcp/src';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};

function macPlus(base: string, n: number): string {
  const bytes = base.split(':').map((x) => parseInt(x, 16));
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i] + carry;
    bytes[i] = v & 0xff;
    carry = Math.floor(v / 256);
  }
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const address = env('ADDRESS');
const [first, last] = env('RANGE').split(',');
const count = Number(env('MACS'));
const enrolled = new Map<string, { nodeId: string }>();
for (let i = 0; i < count; i++) {
  const mac = macPlus(env('MAC_BASE').toLowerCase(), i);
  enrolled.set(mac, { nodeId: `node-${i}` });
}

const config: DhcpResponderConfig = {
  serverIp: address,
  mode: 'full',
  range: { first, last },
  netmask: env('NETMASK'),
  leaseTimeS: Number(env('LEASE_S')),
  tftpServer: address,
  bootfileBios: 'pxelinux.0',
  bootfileUefi: 'bootx64.efi',
};
const leases = new InMemoryLeaseStore(config.range, { exclude: [address] });
let errors = 0;
const dhcp = new DhcpServer({
  port: 67,
  context: { config, leases, lookup: (mac) => enrolled.get(mac) },
  onError: () => errors++,
});

void dhcp.start().then(() => console.log('READY'));
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ dropped: dhcp.dropped, errors, reservations: leases.list().length }));
  void dhcp.stop().then(() => process.exit(0));
});
