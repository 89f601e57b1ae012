import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { BmNode, NodeRepository } from '@bm/db';
import { createNovaBmDatabase, type NovaBmDatabase } from '../../../test/support/database';
import { Spawner, type SpawnServices } from './spawn';
import { hostSpawnNodes } from './spawn-ports';
import { ReconcileFailedNodes } from './use-cases/reconcile-failed-nodes';

const HOST = 'cn-reconcile';
const IMAGES = { kernel: 'k', ramdisk: 'r', deploy_kernel: 'dk', deploy_ramdisk: 'dr' };

describe('a failed spawn whose power-off failed, against PostgreSQL', () => {
  let db: NovaBmDatabase;
  let repo: NodeRepository;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    db = await createNovaBmDatabase();
    repo = new NodeRepository(db.ds);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps the node in error with its instance (not free), and the periodic task releases it once a power-off succeeds', async () => {
    const node = await db.ds.getRepository(BmNode).save({
      uuid: randomUUID(),
      service_host: HOST,
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.5.0.1',
      deleted: false,
    });
    const instance = randomUUID();
    // The BMC answers nothing: the power-on fails the spawn, the cleanup's power-off fails too.
    const bmcDown = { value: true };
    const calls: string[] = [];
    const bmc = (what: string) => async () => {
      calls.push(what);
      if (bmcDown.value) throw new Error('BMC 10.5.0.1: no answer');
    };
    const services: SpawnServices = {
      prepareDeploy: async () => ({ pxe_config_path: '/tftpboot/x/config' }) as never,
      cleanDeploy: async () => void calls.push('clean'),
      setBootDevicePxe: async () => undefined,
      powerOff: bmc('off'),
      powerOn: bmc('on'),
    };
    const spawner = new Spawner(hostSpawnNodes(repo, HOST), services, { deployTimeoutS: 60 });
    await expect(
      spawner.spawn({
        instanceUuid: instance,
        instanceName: 'vm',
        nodeUuid: node.uuid!,
        imageId: 'img',
        images: IMAGES,
      }),
    ).rejects.toThrow('no answer');

    const state = () => db.ds.getRepository(BmNode).findOneByOrFail({ id: node.id });
    expect(await state()).toMatchObject({ task_state: 'error', instance_uuid: instance });
    // The scheduler's view: the node carries an instance, so it is not offered.
    expect((await repo.resourceRows(HOST)).map((r) => r.instance_uuid)).toEqual([instance]);
    // The instance is rescheduled: another node may take it meanwhile.
    const other = await db.ds.getRepository(BmNode).save({
      uuid: randomUUID(),
      service_host: HOST,
      cpus: 1,
      memory_mb: 512,
      local_gb: 5,
      pm_address: '10.5.0.2',
      deleted: false,
    });
    await repo.associate(other.uuid!, HOST, instance, 'vm');

    const config = { default: { host: HOST, rpc_response_timeout: 60, periodic_interval: 60 } } as BmConfig;
    const task = new ReconcileFailedNodes(config, repo, spawner);
    expect(await task.run()).toBe(0); // in error for less than two RPC timeouts: maybe still cleaning
    expect(calls.filter((c) => c === 'off')).toHaveLength(2); // the spawn's, its cleanup's; none by the task
    await db.ds.query(`UPDATE bm_nodes SET updated_at = updated_at - interval '5 minutes' WHERE id = $1`, [node.id]);
    expect(await task.run()).toBe(0); // the BMC is still down
    expect(await state()).toMatchObject({ task_state: 'error', instance_uuid: instance });

    bmcDown.value = false;
    expect(await task.run()).toBe(1);
    expect(await state()).toMatchObject({ task_state: 'deleted', instance_uuid: null, instance_name: null });
    // Powered off; the PXE files under the instance's name are the other node's now: left alone.
    expect(calls.slice(-2)).toEqual(['off', 'off']);
    expect((await repo.instanceNode(instance, HOST)).id).toBe(other.id);
    const [last]: { detail: string }[] = await db.ds.query(
      `SELECT detail FROM bm_node_events WHERE node_id = $1 AND kind = 'state' ORDER BY id DESC LIMIT 1`,
      [node.id],
    );
    expect(last.detail).toBe('deleted (cleaned): powered off by the reconciler');
    expect(await task.run()).toBe(0); // nothing left to do
  });
});
