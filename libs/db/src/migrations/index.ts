import { NovaBmIcehouse1700000000010 } from './010-nova-bm-icehouse';
import { NodeCpuArch1700000000011 } from './011-node-cpu-arch';
import { NodePower1700000000012 } from './012-node-power';
import { DhcpReservations1700000000013 } from './013-dhcp-reservations';
import { ComputeNodes1700000000014 } from './014-compute-nodes';
import { Flavors1700000000015 } from './015-flavors';
import { NodeEvents1700000000016 } from './016-node-events';
import { Images1700000000017 } from './017-images';
import { LiveNodeUniqueness1700000000018 } from './018-live-node-uniqueness';
import { NodeMaintenance1700000000019 } from './019-node-maintenance';

/**
 * Every migration, oldest first, with the nova_bm schema version it produces. Versions 1–10 are
 * Nova's (Icehouse = 10, created in one step); 11 and up are ours. `bmctl db version` prints
 * these numbers, as `nova-baremetal-manage db version` did.
 */
export const MIGRATIONS = [
  { version: 10, migration: NovaBmIcehouse1700000000010 },
  { version: 11, migration: NodeCpuArch1700000000011 },
  { version: 12, migration: NodePower1700000000012 },
  { version: 13, migration: DhcpReservations1700000000013 },
  { version: 14, migration: ComputeNodes1700000000014 },
  { version: 15, migration: Flavors1700000000015 },
  { version: 16, migration: NodeEvents1700000000016 },
  { version: 17, migration: Images1700000000017 },
  { version: 18, migration: LiveNodeUniqueness1700000000018 },
  { version: 19, migration: NodeMaintenance1700000000019 },
] as const;

export { LIVE_BMC_INDEX, LIVE_INSTANCE_INDEX } from './018-live-node-uniqueness';

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
