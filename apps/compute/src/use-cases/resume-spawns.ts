import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { BmConfig } from '@bm/config';
import { inRequest, withLogContext } from '@bm/core';
import { NodeRepository } from '@bm/db';
import { BmState, deployTimeoutWarning } from '@bm/domain';
import { BM_CONFIG } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { Spawner } from '../spawn';
import { InstanceNotifications } from './instance-notifications';

/** The task_states of a spawn in flight. */
const IN_FLIGHT = [BmState.BUILDING, BmState.PREPARED, BmState.DEPLOYING, BmState.DEPLOYDONE, BmState.DEPLOYFAIL];

/**
 * Nova's init_host for bare metal: the spawns this host was running when it stopped are in the
 * rows (building … deploy complete/failed with an instance); each is taken up where it stopped
 * (Spawner.resume) and ends with compute.instance.create.end or .error, as it would have.
 */
@Injectable()
export class ResumeSpawns implements OnApplicationBootstrap {
  private readonly log = new Logger('resume');

  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    private readonly nodes: NodeRepository,
    private readonly spawner: Spawner,
    private readonly notifications: InstanceNotifications,
  ) {}

  onApplicationBootstrap(): void {
    const warning = deployTimeoutWarning(this.config.baremetal.pxe_deploy_timeout);
    if (warning) this.log.warn(warning);
    void this.run().catch((e: Error) => this.log.error(`cannot look for interrupted spawns: ${e.message}`));
  }

  /** Takes up every interrupted spawn (in the background); returns how many there were. */
  async run(): Promise<number> {
    const rows = await this.nodes.interruptedSpawns(this.config.default.host, IN_FLIGHT);
    for (const r of rows) {
      const state = String(r.task_state);
      this.log.warn(`node ${r.id}: the spawn of ${r.instance_uuid} was interrupted in '${state}'; taking it up`);
      const name = r.instance_name ?? r.instance_uuid;
      const instance: InstanceRef = {
        uuid: r.instance_uuid,
        name,
        fields: { uuid: r.instance_uuid, display_name: name },
      };
      const resume = () =>
        this.spawner.resume({
          id: r.id,
          instanceUuid: r.instance_uuid,
          task_state: r.task_state,
          enteredAgoMs: Number(r.ago_ms),
        });
      // The outcome is logged and notified; each resumed spawn a request of its own.
      const ids = { node_id: r.id, node_uuid: r.uuid ?? undefined, instance_uuid: r.instance_uuid };
      void inRequest(() =>
        withLogContext(ids, () =>
          this.notifications.around('create', instance, resume, { node: r.uuid, resumed: true }),
        ),
      ).catch(() => undefined);
    }
    return rows.length;
  }
}
