import type { Command } from 'commander';
import { interfacesTable } from '../output';
import { type CliSession, integer } from '../session';

/** `bmctl interface …`: nova baremetal-interface-add/list/remove. */
export function interfaceCommands(program: Command, session: CliSession): void {
  const iface = program.command('interface').description('NICs of a node (nova baremetal-interface-*)');
  iface
    .command('add')
    .description('add a NIC (MAC address) to a node')
    .argument('<node>', 'node id or UUID')
    .argument('<mac>', 'MAC address')
    .option('--datapath-id <id>', 'OpenFlow datapath id (informational)')
    .option('--port-no <n>', 'switch port number (informational)', integer)
    .action(async (ref: string, mac: string, o: { datapathId?: string; portNo?: number }, cmd: Command) => {
      const s = session.for(cmd);
      const i = await (
        await s.enrollment()
      ).addInterface(ref, {
        address: mac,
        ...(o.datapathId !== undefined ? { datapath_id: o.datapathId } : {}),
        ...(o.portNo !== undefined ? { port_no: o.portNo } : {}),
      });
      s.print(i, () => interfacesTable([i]));
    });
  iface
    .command('list')
    .description("list a node's NICs")
    .argument('<node>', 'node id or UUID')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const s = session.for(cmd);
      const list = await (await s.enrollment()).listInterfaces(ref);
      s.print(list, () => interfacesTable(list));
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
