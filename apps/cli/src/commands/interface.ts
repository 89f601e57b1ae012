import type { Command } from 'commander';
import type { InterfaceView, NodeView } from '@bm/enrollment';
import { CliError } from '../errors';
import type { Column } from '../output';
import { type CliSession, integer } from '../session';

/** An interface with the node it belongs to. */
interface NodeInterface extends InterfaceView {
  node_id: number;
  node_uuid: string | null;
}

const withNode = (n: Pick<NodeView, 'id' | 'uuid'>, i: InterfaceView): NodeInterface => ({
  ...i,
  node_id: n.id,
  node_uuid: n.uuid,
});

/** The columns of `nova baremetal-interface-list`, with each interface's node. */
const INTERFACE_COLUMNS: Column<NodeInterface>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'Node', value: (i) => i.node_id },
  { header: 'Address', value: (i) => i.address },
  { header: 'Datapath_ID', value: (i) => i.datapath_id },
  { header: 'Port_No', value: (i) => i.port_no },
  { header: 'Node UUID', value: (i) => i.node_uuid, long: true },
  { header: 'VIF UUID', value: (i) => i.vif_uuid, long: true },
];

/** `bmctl interface …`: nova baremetal-interface-add/list/remove, show, and a list across nodes. */
export function interfaceCommands(program: Command, session: CliSession): void {
  const iface = program.command('interface').description('NICs of the nodes (nova baremetal-interface-*)');
  iface
    .command('add')
    .description('add a NIC (MAC address) to a node')
    .argument('<node>', 'node id or UUID')
    .argument('<mac>', 'MAC address')
    .option('--datapath-id <id>', 'OpenFlow datapath id (informational)')
    .option('--port-no <n>', 'switch port number (informational)', integer)
    .action(async (ref: string, mac: string, o: { datapathId?: string; portNo?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const enrollment = await s.enrollment();
      const i = await enrollment.addInterface(ref, {
        address: mac,
        ...(o.datapathId !== undefined ? { datapath_id: o.datapathId } : {}),
        ...(o.portNo !== undefined ? { port_no: o.portNo } : {}),
      });
      s.printRecord({ ...withNode(await enrollment.getNode(ref), i) });
    });
  iface
    .command('list')
    .description('list the NICs of every node, or of one (the argument or --node)')
    .argument('[node]', 'only those of this node (id or UUID)')
    .option('--node <node>', 'only those of this node (id or UUID)')
    .action(async (arg: string | undefined, o: { node?: string }, cmd: Command) => {
      const s = session.for(cmd);
      if (arg !== undefined && o.node !== undefined && arg !== o.node)
        throw new CliError(`two nodes given: ${arg} and --node ${o.node}`, 'usage');
      const ref = arg ?? o.node;
      const enrollment = await s.enrollment();
      const nodes = ref === undefined ? await enrollment.listNodes() : [await enrollment.getNode(ref)];
      s.printList(
        nodes.flatMap((n) => n.interfaces.map((i) => withNode(n, i))),
        INTERFACE_COLUMNS,
      );
    });
  iface
    .command('show')
    .description('one NIC, by interface id or MAC address, with its node')
    .argument('<interface>', 'interface id or MAC address')
    .action(async (which: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const found = findInterface(await (await s.enrollment()).listNodes(), which);
      s.printRecord({ ...found });
    });
  iface
    .command('remove')
    .description('remove a NIC by MAC address or interface id')
    .argument('<node>', 'node id or UUID')
    .argument('<interface>', 'MAC address or interface id')
    .action(async (ref: string, which: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const i = await (await s.enrollment()).removeInterface(ref, which);
      s.print(i, () => `removed interface ${i.id} (${i.address}) from node ${ref}`);
    });
}

/** The interface `which` (an id, or a MAC in any case or separator) among the nodes' interfaces. */
export function findInterface(nodes: readonly NodeView[], which: string): NodeInterface {
  const byId = /^[0-9]+$/.test(which);
  const mac = which.toLowerCase().replace(/-/g, ':');
  for (const n of nodes)
    for (const i of n.interfaces)
      if (byId ? i.id === Number(which) : i.address?.toLowerCase() === mac) return withNode(n, i);
  throw new CliError(`no interface ${which} on any node`, 'not_found');
}
