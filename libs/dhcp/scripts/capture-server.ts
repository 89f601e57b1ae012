/**
 * Lab-only capture server (not part of the library): run inside a network namespace by
 * capture-fixtures.sh. Listens on UDP 67, answers with respond() so that real clients go through
 * DISCOVER → REQUEST → RELEASE, and writes every received datagram (and the reply it sent) as a
 * hex fixture into OUT_DIR, named after the label the driving script writes to OUT_DIR/label.
 *
 *   OUT_DIR=/tmp/x node -r ts-node/register/transpile-only -r tsconfig-paths/register libs/dhcp/scripts/capture-server.ts
 */
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  InMemoryLeaseStore,
  decodeDhcp,
  encodeDhcp,
  messageType,
  messageTypeName,
  respond,
  type DhcpResponderConfig,
} from '../src';
import { LAB_CONFIG, LAB_IPXE_SCRIPT } from '../test/lab-config';

const out = process.env.OUT_DIR ?? '.';
const config: DhcpResponderConfig = { ...LAB_CONFIG, ipxeScriptUrl: LAB_IPXE_SCRIPT };
const leases = new InMemoryLeaseStore(config.range, { exclude: [config.serverIp] });
const counters = new Map<string, number>();

function wrap(hex: string): string {
  return (hex.match(/.{1,64}/g) ?? []).join('\n');
}

const sock = createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (msg, rinfo) => {
  const label = existsSync(join(out, 'label')) ? readFileSync(join(out, 'label'), 'utf8').trim() : 'unlabelled';
  let type = 'undecodable';
  try {
    type = messageTypeName(messageType(decodeDhcp(msg))).toLowerCase();
  } catch {
    // keep the bytes anyway
  }
  const n = (counters.get(label) ?? 0) + 1;
  counters.set(label, n);
  const name = `${label}-${n}-${type}`;
  const header = `# ${label}: DHCP ${type.toUpperCase()} received on UDP 67 from ${rinfo.address}:${rinfo.port}, ${msg.length} bytes (whole UDP payload)\n`;
  writeFileSync(join(out, `${name}.hex`), header + wrap(msg.toString('hex')) + '\n');
  const d = respond(
    decodeDhcp(msg),
    { config, leases, lookup: () => ({ nodeId: 'capture' }) },
    { localPort: 67, source: { address: rinfo.address, port: rinfo.port } },
  );
  console.log(JSON.stringify({ name, from: `${rinfo.address}:${rinfo.port}`, log: d.log, to: d.destination }));
  if (d.reply && d.destination) {
    const bytes = encodeDhcp(d.reply);
    const rh = `# reply sent by respond() to ${d.destination.address}:${d.destination.port} (${d.destination.via}), ${bytes.length} bytes\n`;
    writeFileSync(join(out, `${name}.reply.hex`), rh + wrap(bytes.toString('hex')) + '\n');
    sock.send(bytes, d.destination.port, d.destination.address, (err) => {
      if (err) console.log(JSON.stringify({ name, sendError: String(err) }));
    });
  }
});
sock.bind(67, '0.0.0.0', () => {
  sock.setBroadcast(true);
  writeFileSync(join(out, 'ready'), 'ready\n');
});
process.on('SIGTERM', () => sock.close(() => process.exit(0)));
