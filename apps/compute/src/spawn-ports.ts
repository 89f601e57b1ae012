import type { NetbootClient, PowerClient } from '@bm/contracts';
import type { NodeRepository } from '@bm/db';
import { BmState } from '@bm/domain';
import type { SpawnNodes, SpawnServices } from './spawn';

/** The spawn's view of nova_bm: NodeRepository for this compute host's nodes. */
export function hostSpawnNodes(nodes: NodeRepository, host: string): SpawnNodes {
  return {
    associate: (nodeUuid, instanceUuid, name) => nodes.associate(nodeUuid, host, instanceUuid, name),
    claimForRebuild: (instanceUuid, preserveEphemeral) =>
      nodes.transitionInstance(instanceUuid, host, 'rebuild', { preserve_ephemeral: preserveEphemeral }),
    read: (id) => nodes.read(id),
    recordDeploy: (id, instanceUuid, fields) => nodes.recordDeploy(id, instanceUuid, fields),
    transition: (id, instanceUuid, event, why) => nodes.transition(id, instanceUuid, event, {}, why),
    carriedElsewhere: async (instanceUuid, id) =>
      (await nodes.instances({ instanceUuid })).some((r) => r.node_id !== id && r.task_state !== BmState.ERROR),
  };
}

/** The spawn's view of this host's power and netboot services. */
export function busSpawnServices(power: PowerClient, netboot: NetbootClient): SpawnServices {
  return {
    prepareDeploy: (node, instance, images, key) => netboot.prepareDeploy(node, instance, images, key),
    cleanDeploy: async (node, instance) => void (await netboot.clean(node, instance)),
    // Persistent, as Havana's ipmitool driver (bug 1178092): the ramdisk's reboot must PXE-boot
    // again to get the boot label; the disk has no boot loader (the kernel comes over TFTP).
    setBootDevicePxe: async (node) => void (await power.setBootDevice(node, 'pxe', { persistent: true })),
    powerOff: async (node) => void (await power.powerOff(node)),
    powerOn: async (node) => void (await power.powerOn(node)),
  };
}
