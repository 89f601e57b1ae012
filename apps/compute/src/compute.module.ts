import { Logger, Module } from '@nestjs/common';
import { ComputeTaskClient, NetbootClient, PowerClient } from '@bm/contracts';
import type { BmConfig } from '@bm/config';
import type { Clock } from '@bm/core';
import { NodeRepository } from '@bm/db';
import { RpcClient } from '@bm/messaging';
import { BM_CONFIG, CLOCK, Metrics } from '@bm/service';
import { ComputeRpcController } from './compute-rpc.controller';
import { DeployWaits } from './deploy-waits';
import { NovaInstanceState } from './nova-instance-state';
import { NovaServiceReport } from './nova-service-report';
import { ResourceReporter } from './resource-reporter';
import { Spawner } from './spawn';
import { busSpawnServices, hostSpawnNodes } from './spawn-ports';
import { ConsoleOutput } from './use-cases/console-output';
import { DestroyInstance } from './use-cases/destroy-instance';
import { HostUptime } from './use-cases/host-uptime';
import { InstanceDiagnostics } from './use-cases/instance-diagnostics';
import { InstanceNotifications } from './use-cases/instance-notifications';
import { InstanceQueries } from './use-cases/instance-queries';
import { PowerInstance } from './use-cases/power-instance';
import { RebootInstance } from './use-cases/reboot-instance';
import { RebuildInstance } from './use-cases/rebuild-instance';
import { ReconcileFailedNodes } from './use-cases/reconcile-failed-nodes';
import { ResumeSpawns } from './use-cases/resume-spawns';
import { SpawnInstance } from './use-cases/spawn-instance';

/** The Spawner of this host: its nodes in nova_bm, its power and netboot services, its deploy waits. */
function makeSpawner(
  config: BmConfig,
  clock: Clock,
  nodes: NodeRepository,
  power: PowerClient,
  netboot: NetbootClient,
  waits: DeployWaits,
  metrics: Metrics,
): Spawner {
  const log = new Logger('spawn');
  return new Spawner(hostSpawnNodes(nodes, config.default.host), busSpawnServices(power, netboot), {
    deployTimeoutS: config.baremetal.pxe_deploy_timeout,
    pollMs: config.baremetal.deploy_poll_interval * 1000,
    clock,
    sleep: (ms, nodeId) => waits.wait(nodeId, ms),
    log: (m) => log.log(m),
    observer: metrics.spawn, // bm_spawns_total, bm_spawn_phase_seconds
  });
}

@Module({
  controllers: [ComputeRpcController],
  providers: [
    ResourceReporter,
    NovaServiceReport,
    NovaInstanceState,
    { provide: ComputeTaskClient, inject: [RpcClient], useFactory: (rpc: RpcClient) => new ComputeTaskClient(rpc) },
    DeployWaits,
    InstanceNotifications,
    {
      provide: Spawner,
      inject: [BM_CONFIG, CLOCK, NodeRepository, PowerClient, NetbootClient, DeployWaits, Metrics],
      useFactory: makeSpawner,
    },
    SpawnInstance,
    RebuildInstance,
    DestroyInstance,
    RebootInstance,
    PowerInstance,
    InstanceQueries,
    ConsoleOutput,
    InstanceDiagnostics,
    HostUptime,
    ResumeSpawns,
    ReconcileFailedNodes,
  ],
})
export class ComputeModule {}
