/**
 * Our DHCP (PXE) and TFTP servers alone, without the database or the bus: for a lab network
 * namespace and the QEMU PXE boot tests (serveInNamespace of test/support/netns.ts runs it inside
 * a namespace, with ts-node and tsconfig-paths). Configuration from the environment:
 *   ADDRESS     our address on the boot network (next-server, server id), e.g. 10.77.0.1
 *   RANGE       FIRST,LAST addresses for the enrolled MACs
 *   MODE        full (default) or proxy (ProxyDHCP: PXE options only, another server gives addresses)
 *   MACS        the enrolled MACs, comma-separated
 *   REPLY_ADDRESS optional: DHCP replies leave from this address's interface (DhcpServer replyAddress)
 *   TFTP_ROOT   the directory served (absolute requests for TFTP_ROOT/... are accepted)
 *   READY_FILE  written once both servers listen
 *   CAPTURE_DIR optional: every DHCP datagram received is written there as <n>.hex
 * Logs one JSON line per DHCP decision and per TFTP transfer on stdout.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpServer, InMemoryLeaseStore } from '../../libs/dhcp/src';
import { TftpServer } from '../../libs/tftp/src';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const address = env('ADDRESS');
const [first, last] = env('RANGE').split(',');
const enrolled = new Set(env('MACS').toLowerCase().split(','));
const root = env('TFTP_ROOT');

let captured = 0;
const config = {
  serverIp: address,
  mode: process.env.MODE === 'proxy' ? ('proxy' as const) : ('full' as const),
  range: { first, last },
  netmask: '255.255.255.0',
  leaseTimeS: 3600,
  tftpServer: address,
  bootfileBios: 'pxelinux.0',
  bootfileUefi: 'bootx64.efi',
};
const dhcp = new DhcpServer({
  port: 67,
  ...(process.env.REPLY_ADDRESS ? { replyAddress: process.env.REPLY_ADDRESS } : {}),
  context: {
    config,
    leases: new InMemoryLeaseStore(config.range, { exclude: [address] }),
    lookup: (mac) => (enrolled.has(mac) ? { nodeId: mac } : undefined),
  },
  onLog: (e) =>
    console.log(
      JSON.stringify({
        dhcp: e.event,
        message: e.message,
        mac: e.mac,
        ip: e.ip,
        bootfile: e.bootfile,
        client: e.client,
        server: e.server,
        relay: e.relay,
        proxy: e.proxy,
        reason: e.reason,
      }),
    ),
  onError: (e) => console.log(JSON.stringify({ dhcpError: e.message })),
  onDatagram: (msg) => {
    if (process.env.CAPTURE_DIR)
      writeFileSync(join(process.env.CAPTURE_DIR, `${++captured}.hex`), msg.toString('hex') + '\n');
  },
});
const tftp = new TftpServer({
  port: 69,
  root,
  rootAliases: [root],
  onTransfer: (s) => console.log(JSON.stringify({ tftp: s.file, bytes: s.bytes, outcome: s.outcome })),
});

(async () => {
  await dhcp.start();
  await tftp.start();
  if (process.env.READY_FILE) writeFileSync(process.env.READY_FILE, 'ready\n');
  const stop = async () => {
    await dhcp.stop();
    await tftp.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
})().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
