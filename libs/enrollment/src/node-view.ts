import type { BmInterface, BmNode } from '@bm/db';

export const PASSWORD_MASK = '******';

export interface InterfaceView {
  id: number;
  address: string | null;
  datapath_id: string | null;
  port_no: number | null;
  vif_uuid: string | null;
}

/**
 * What any entry point may show of a node. The BMC password is never part of it: only
 * whether one is set (`******`), as the os-baremetal-nodes API never returned it.
 */
export interface NodeView {
  id: number;
  uuid: string | null;
  service_host: string | null;
  cpus: number | null;
  memory_mb: number | null;
  local_gb: number | null;
  cpu_arch: string | null;
  pm_address: string | null;
  pm_user: string | null;
  pm_password: typeof PASSWORD_MASK | null;
  terminal_port: number | null;
  instance_uuid: string | null;
  instance_name: string | null;
  task_state: string | null;
  /** Out of service (`bmctl node maintenance`): why, and since when (ISO 8601, UTC). */
  maintenance: boolean;
  maintenance_reason: string | null;
  maintenance_at: string | null;
  created_at: string | null;
  updated_at: string | null;
  interfaces: InterfaceView[];
}

export function interfaceView(i: BmInterface): InterfaceView {
  return { id: i.id, address: i.address, datapath_id: i.datapath_id, port_no: i.port_no, vif_uuid: i.vif_uuid };
}

export function nodeView(n: BmNode, interfaces: BmInterface[]): NodeView {
  return {
    id: n.id,
    uuid: n.uuid,
    service_host: n.service_host,
    cpus: n.cpus,
    memory_mb: n.memory_mb,
    local_gb: n.local_gb,
    cpu_arch: n.cpu_arch,
    pm_address: n.pm_address,
    pm_user: n.pm_user,
    pm_password: n.pm_password ? PASSWORD_MASK : null,
    terminal_port: n.terminal_port,
    instance_uuid: n.instance_uuid,
    instance_name: n.instance_name,
    task_state: n.task_state,
    maintenance: n.maintenance ?? false,
    maintenance_reason: n.maintenance_reason ?? null,
    maintenance_at: n.maintenance_at ? n.maintenance_at.toISOString() : null,
    created_at: n.created_at ? n.created_at.toISOString() : null,
    updated_at: n.updated_at ? n.updated_at.toISOString() : null,
    interfaces: interfaces.sort((a, b) => a.id - b.id).map(interfaceView),
  };
}
