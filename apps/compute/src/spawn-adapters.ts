import type { DataSource } from 'typeorm';
import { type BmTaskState, BmState, Conflict, InstanceNotFound, NodeNotFound, transition } from '@bm/domain';
import type { RpcClient } from '@bm/messaging';
import type { SpawnImages, SpawnNode, SpawnNodes, SpawnServices } from './spawn';

/** The spawn's view of nova_bm: every write is conditional, so a stale spawn cannot clobber a row. */
export class SqlSpawnNodes implements SpawnNodes {
  constructor(
    private readonly ds: DataSource,
    private readonly host: string,
  ) {}

  async associate(nodeUuid: string, instanceUuid: string, instanceName: string): Promise<SpawnNode> {
    // Nova's bm_node_associate_and_update: one UPDATE … WHERE instance_uuid IS NULL; two spawns
    // racing for a node cannot both win.
    const [rows] = await this.ds.query(
      `UPDATE bm_nodes SET instance_uuid = $2, instance_name = $3, task_state = $5, preserve_ephemeral = false, updated_at = now() AT TIME ZONE 'UTC'
        WHERE uuid = $1 AND service_host = $4 AND deleted = false AND instance_uuid IS NULL AND (task_state IS NULL OR task_state = $6)
        RETURNING id, task_state, instance_uuid`,
      [nodeUuid, instanceUuid, instanceName, this.host, BmState.BUILDING, BmState.DELETED],
    );
    if (rows.length === 1) return rows[0] as SpawnNode;
    const [row]: { instance_uuid: string | null; task_state: BmTaskState }[] = await this.ds.query(
      `SELECT instance_uuid, task_state FROM bm_nodes WHERE uuid = $1 AND service_host = $2 AND deleted = false`,
      [nodeUuid, this.host],
    );
    if (!row) throw new NodeNotFound(nodeUuid);
    if (row.instance_uuid !== null)
      throw new Conflict(`Node ${nodeUuid} is associated with instance ${row.instance_uuid}`, 'NodeAssociated');
    transition(row.task_state, 'associate'); // throws InvalidNodeStateTransition naming the state
    throw new Conflict(`Node ${nodeUuid} changed while it was being claimed`, 'NodeAssociated');
  }

  async claimForRebuild(instanceUuid: string, preserveEphemeral: boolean): Promise<SpawnNode> {
    const [rows] = await this.ds.query(
      `UPDATE bm_nodes SET task_state = $3, preserve_ephemeral = $4, updated_at = now() AT TIME ZONE 'UTC'
        WHERE instance_uuid = $1 AND service_host = $2 AND deleted = false AND task_state = $5
        RETURNING id, task_state, instance_uuid`,
      [instanceUuid, this.host, BmState.BUILDING, preserveEphemeral, BmState.ACTIVE],
    );
    if (rows.length === 1) return rows[0] as SpawnNode;
    const [row]: { task_state: BmTaskState }[] = await this.ds.query(
      `SELECT task_state FROM bm_nodes WHERE instance_uuid = $1 AND service_host = $2 AND deleted = false`,
      [instanceUuid, this.host],
    );
    if (!row) throw new InstanceNotFound(instanceUuid);
    transition(row.task_state, 'rebuild'); // throws InvalidNodeStateTransition naming the state
    throw new Conflict(`Instance ${instanceUuid} changed while its rebuild began`, 'NodeStateChanged');
  }

  async read(id: number): Promise<SpawnNode | undefined> {
    const [row] = await this.ds.query(
      `SELECT id, task_state, instance_uuid FROM bm_nodes WHERE id = $1 AND deleted = false`,
      [id],
    );
    return row as SpawnNode | undefined;
  }

  async update(
    id: number,
    instanceUuid: string,
    from: BmTaskState,
    to: BmTaskState,
    fields: { deploy_key?: string; pxe_config_path?: string } = {},
  ): Promise<void> {
    const [, n] = await this.ds.query(
      `UPDATE bm_nodes SET task_state = $4, deploy_key = coalesce($5, deploy_key), pxe_config_path = coalesce($6, pxe_config_path), updated_at = now() AT TIME ZONE 'UTC'
        WHERE id = $1 AND instance_uuid = $2 AND task_state IS NOT DISTINCT FROM $3`,
      [id, instanceUuid, from, to, fields.deploy_key ?? null, fields.pxe_config_path ?? null],
    );
    if (n !== 1)
      throw new Conflict(
        `Node ${id} left '${from ?? 'NULL'}' for instance ${instanceUuid} under the spawn`,
        'NodeStateChanged',
      );
  }

  async release(id: number, instanceUuid: string): Promise<void> {
    await this.ds.query(
      `UPDATE bm_nodes SET task_state = $3, instance_uuid = NULL, instance_name = NULL, deploy_key = NULL, image_path = NULL,
              pxe_config_path = NULL, root_mb = 0, swap_mb = 0, updated_at = now() AT TIME ZONE 'UTC'
        WHERE id = $1 AND instance_uuid = $2`,
      [id, instanceUuid, BmState.DELETED],
    );
  }
}

/** The power and netboot services of this host, over oslo RPC (version 1.0). */
export class RpcSpawnServices implements SpawnServices {
  constructor(
    private readonly rpc: RpcClient,
    private readonly host: string,
    private readonly timeoutS: number,
  ) {}

  private call<T>(topic: string, method: string, args: Record<string, unknown>): Promise<T> {
    return this.rpc.call<T>({ topic, server: this.host }, method, args, { version: '1.0', timeout: this.timeoutS });
  }

  prepareDeploy(nodeId: number, instanceUuid: string, images: SpawnImages, deployKey: string) {
    return this.call<{ pxe_config_path: string }>('baremetal-netboot', 'prepare_deploy', {
      node: nodeId,
      instance: instanceUuid,
      images: { ...images },
      deploy_key: deployKey,
    });
  }

  async cleanDeploy(nodeId: number, instanceUuid: string): Promise<void> {
    await this.call('baremetal-netboot', 'clean', { node: nodeId, instance: instanceUuid });
  }

  async setBootDevicePxe(nodeId: number): Promise<void> {
    await this.call('baremetal-power', 'set_boot_device', { node: nodeId, device: 'pxe' });
  }

  async powerOff(nodeId: number): Promise<void> {
    await this.call('baremetal-power', 'power_off', { node: nodeId });
  }

  async powerOn(nodeId: number): Promise<void> {
    await this.call('baremetal-power', 'power_on', { node: nodeId });
  }
}
