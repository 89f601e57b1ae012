import type { DataSource } from 'typeorm';
import { EnrollmentService } from '@bm/enrollment';
import { SimulatedMachine, VirtualBmc } from '@bm/ipmi';

/** The node the tests enroll unless they say otherwise: 1 CPU, 512 MB, 5 GB, a BMC nobody calls. */
export const SMALL_NODE = { cpus: 1, memory_mb: 512, local_gb: 5, pm_address: '10.0.0.1' };

/** Enrolls a SMALL_NODE (with `fields` over it) on `host`, as bmctl node create does; its id. */
export async function enrollNode(
  ds: DataSource,
  host: string,
  fields: { macs: string[] } & Record<string, unknown>,
): Promise<number> {
  return (await new EnrollmentService(ds, host).createNode({ ...SMALL_NODE, ...fields })).id;
}

/** A virtual BMC on a free loopback port (IPMI 2.0, user admin) in front of a simulated machine. */
export async function startVirtualBmc(password: string): Promise<{ bmc: VirtualBmc; machine: SimulatedMachine }> {
  const machine = new SimulatedMachine();
  const bmc = new VirtualBmc({ port: 0, users: { admin: password }, machine });
  await bmc.start();
  return { bmc, machine };
}

/** A node enrolled with its own virtual BMC; stop `bmc` after the test. */
export interface BmcNode {
  id: number;
  uuid: string;
  mac: string;
  bmc: VirtualBmc;
  machine: SimulatedMachine;
}

/**
 * Starts a virtual BMC (startVirtualBmc) and enrolls a SMALL_NODE with NIC `mac` behind it
 * (`fields` over it) through `enroll`.
 */
export async function enrollBmcNode(
  enroll: EnrollmentService,
  mac: string,
  password: string,
  fields: Record<string, unknown> = {},
): Promise<BmcNode> {
  const { bmc, machine } = await startVirtualBmc(password);
  try {
    const n = await enroll.createNode({
      ...SMALL_NODE,
      macs: [mac],
      pm_address: `127.0.0.1:${bmc.port}`,
      pm_user: 'admin',
      pm_password: password,
      ...fields,
    });
    return { id: n.id, uuid: n.uuid!, mac, bmc, machine };
  } catch (e) {
    await bmc.stop();
    throw e;
  }
}
