// lab-nodes: many simulated bare-metal nodes in one process, for scale (issue #13).
// Each node is a virtual BMC whose machine PXE-boots from the real netboot service, plays the
// seed's deploy ramdisk against the real deploy helper and boots the instance it deployed
// (src/sim-node.ts). Run it as root in a network namespace whose interface is on the boot network:
//
//   node dist/apps/lab-nodes/main.js --nodes nodes.csv [--interface eth0] [--bmc-address 127.0.0.1]
//        [--status-file status.json] [--status-interval 1000] [--quiet]
//
// Prints JSON lines on stdout: {"event":"ready","nodes":[{name,mac,bmc}]} once every BMC listens,
// then {"event":"phase",…} for every phase change of a node (its status without the history),
// {"event":"log",…} (unless --quiet); {"event":"stopped"} after SIGTERM / SIGINT, which power every
// node off and stop tgtd. --status-file is rewritten with every node's full status each interval.
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Fleet } from './fleet';
import type { SimNodeStatus } from './sim-node';
import { loadNodeSpecs } from './spec';

const USAGE =
  'usage: main.js --nodes FILE [--interface DEV] [--bmc-address IP] [--portal-address IP] [--iscsi-port N]\n' +
  '               [--dhcp-timeouts MS,MS,…] [--keep-interface] [--status-file FILE] [--status-interval MS] [--quiet]';

const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** A status line: everything but the history (the status file has it). */
function phaseLine(s: SimNodeStatus): Record<string, unknown> {
  const { history: _history, ...rest } = s;
  return { event: 'phase', ...rest };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      nodes: { type: 'string' },
      interface: { type: 'string', default: 'eth0' },
      'bmc-address': { type: 'string', default: '127.0.0.1' },
      'portal-address': { type: 'string', default: '0.0.0.0' },
      'iscsi-port': { type: 'string', default: '3260' },
      'dhcp-timeouts': { type: 'string' },
      'keep-interface': { type: 'boolean', default: false },
      'status-file': { type: 'string' },
      'status-interval': { type: 'string', default: '1000' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (a.help || !a.nodes) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(a.help ? 0 : 64);
  }
  const specs = await loadNodeSpecs(a.nodes, { bmcAddress: a['bmc-address'] });
  const fleet = await Fleet.start(specs, {
    interface: a.interface!,
    prepareInterface: !a['keep-interface'],
    portalAddress: a['portal-address'],
    iscsiPort: Number(a['iscsi-port']),
    ...(a['dhcp-timeouts'] ? { dhcpTimeoutsMs: a['dhcp-timeouts'].split(',').map(Number) } : {}),
  });
  fleet.on('phase', (s: SimNodeStatus) => say(phaseLine(s)));
  if (!a.quiet) fleet.on('log', (l: Record<string, unknown>) => say({ event: 'log', ...l }));

  let timer: NodeJS.Timeout | undefined;
  const statusFile = a['status-file'];
  const writeStatus = async () => {
    if (!statusFile) return;
    const tmp = `${statusFile}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify({ at: new Date().toISOString(), nodes: fleet.status() }, null, 1)}\n`);
    await rename(tmp, statusFile);
  };
  if (statusFile) {
    const every = Math.max(100, Number(a['status-interval']) || 1000);
    timer = setInterval(() => void writeStatus().catch(() => undefined), every);
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    await fleet.stop();
    await writeStatus().catch(() => undefined);
    say({ event: 'stopped', at: new Date().toISOString() });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());

  await writeStatus();
  say({
    event: 'ready',
    at: new Date().toISOString(),
    nodes: fleet.nodes.map((n) => ({ name: n.name, mac: n.spec.mac, bmc: n.status().bmc })),
    tgtd: { pid: fleet.tgtd.pid, controlPort: fleet.tgtd.controlPort },
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`lab-nodes: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
