import { Inject, Injectable } from '@nestjs/common';
import { type NodeDiagnostics, PowerClient, instanceDiagnostics, legacyDiagnostics } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import type { Clock } from '@bm/core';
import { NodeEventRepository, NodeRepository } from '@bm/db';
import { InstanceInvalidState } from '@bm/domain';
import { BM_CONFIG, CLOCK } from '@bm/service';
import type { InstanceRef } from '../instance-args';
import { lastBootAt } from '../uptime';

/**
 * get_diagnostics (the legacy dict) and get_instance_diagnostics (Nova's Diagnostics object):
 * what we know of the instance's node (compute-nova.ts). As Nova's manager, only of an instance
 * that is running: a node that is off is InstanceInvalidState ("… in power state shutdown.
 * Cannot get_diagnostics …", the method name Nova's manager gives for both).
 */
@Injectable()
export class InstanceDiagnostics {
  constructor(
    @Inject(BM_CONFIG) private readonly config: BmConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly nodes: NodeRepository,
    private readonly events: NodeEventRepository,
    private readonly power: PowerClient,
  ) {}

  async legacy(instance: InstanceRef): Promise<Record<string, unknown>> {
    return legacyDiagnostics(await this.facts(instance));
  }

  async object(instance: InstanceRef): Promise<Record<string, unknown>> {
    return { ...instanceDiagnostics(await this.facts(instance)) };
  }

  private async facts(instance: InstanceRef): Promise<NodeDiagnostics> {
    const host = this.config.default.host;
    const n = await this.nodes.instanceNode(instance.uuid, host);
    const { power_state } = await this.power.getPowerState(n.id);
    // Nova's names of the power states its check refuses (power_state.STATE_MAP).
    if (power_state !== 'on')
      throw new InstanceInvalidState(
        instance.uuid,
        'power state',
        power_state === 'off' ? 'shutdown' : 'pending',
        'get_diagnostics',
      );
    const [macs, events] = await Promise.all([this.nodes.enrolledMacs(host), this.events.timeline(n.id)]);
    const booted = lastBootAt(events);
    return {
      node: n.uuid,
      hypervisor: this.config.baremetal.baremetal_type,
      uptimeS: booted ? Math.max(0, Math.floor((this.clock.now() - booted.getTime()) / 1000)) : null,
      cpus: n.cpus,
      memoryMb: n.memory_mb,
      macs: macs.filter((m) => m.node_id === n.id).map((m) => m.address),
    };
  }
}
