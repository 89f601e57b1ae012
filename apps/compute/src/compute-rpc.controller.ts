import { UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  BuildAndRunInstanceArgs,
  COMPUTE,
  COMPUTE_BAREMETAL,
  ConsoleOutputArgs,
  DeployStateChangedArgs,
  GetAvailableResourceArgs,
  InstanceArgs,
  RebuildInstanceArgs,
  RunInstanceArgs,
  patternOf,
} from '@bm/contracts';
import { OsloController } from '@bm/messaging';
import { DeployWaits } from './deploy-waits';
import { instanceRef } from './instance-args';
import { RefusedBuildFilter } from './refused-build.filter';
import { ResourceReporter } from './resource-reporter';
import { ConsoleOutput } from './use-cases/console-output';
import { DestroyInstance } from './use-cases/destroy-instance';
import { HostUptime } from './use-cases/host-uptime';
import { InstanceDiagnostics } from './use-cases/instance-diagnostics';
import { InstanceQueries } from './use-cases/instance-queries';
import { PowerInstance } from './use-cases/power-instance';
import { RebootInstance } from './use-cases/reboot-instance';
import { RebuildInstance } from './use-cases/rebuild-instance';
import { SpawnInstance } from './use-cases/spawn-instance';

const m = (method: keyof typeof COMPUTE.methods) => patternOf(COMPUTE, method);

/**
 * Nova's compute RPC API and our `baremetal` namespace (libs/contracts COMPUTE, COMPUTE_BAREMETAL):
 * each method is mapped onto its use-case; the arguments are validated against the contract's DTOs.
 */
@OsloController()
export class ComputeRpcController {
  constructor(
    private readonly resources: ResourceReporter,
    private readonly waits: DeployWaits,
    private readonly spawn: SpawnInstance,
    private readonly rebuild: RebuildInstance,
    private readonly destroy: DestroyInstance,
    private readonly reboot: RebootInstance,
    private readonly power: PowerInstance,
    private readonly queries: InstanceQueries,
    private readonly console: ConsoleOutput,
    private readonly diagnostics: InstanceDiagnostics,
    private readonly uptime: HostUptime,
  ) {}

  /** BareMetalDriver.get_available_nodes: the uuid of every node this host owns, free or busy. */
  @MessagePattern(m('getAvailableNodes'))
  async getAvailableNodes(): Promise<string[]> {
    return (await this.resources.nodes()).map((n) => n.hypervisor_hostname);
  }

  /** BareMetalDriver.get_available_resource(nodename): the node's resource dict; {} for a node not on this host. */
  @MessagePattern(m('getAvailableResource'))
  async getAvailableResource(@Payload() a: GetAvailableResourceArgs) {
    return (await this.resources.forNode(a.nodename)) ?? {};
  }

  /**
   * Cast by the scheduler; as a call it answers once the node is active (call-monitor heartbeats
   * keep a patient caller waiting); a failure comes back as the error, after the node was cleaned
   * up and released.
   */
  @MessagePattern(m('runInstance'))
  @UseFilters(RefusedBuildFilter)
  runInstance(@Payload() a: RunInstanceArgs) {
    return this.spawn.run(a);
  }

  /** Nova's conductor casts it (6.0 whatever the pin up to 6.4); the same spawn as run_instance. */
  @MessagePattern(m('buildAndRunInstance'))
  @UseFilters(RefusedBuildFilter)
  buildAndRunInstance(@Payload() a: BuildAndRunInstanceArgs) {
    return this.spawn.run(a);
  }

  @MessagePattern(m('rebuildInstance'))
  rebuildInstance(@Payload() a: RebuildInstanceArgs) {
    return this.rebuild.run(a);
  }

  @MessagePattern(m('terminateInstance'))
  terminateInstance(@Payload() a: InstanceArgs) {
    return this.destroy.run(instanceRef(a.instance));
  }

  @MessagePattern(m('rebootInstance'))
  rebootInstance(@Payload() a: InstanceArgs) {
    return this.reboot.run(instanceRef(a.instance));
  }

  @MessagePattern(m('startInstance'))
  startInstance(@Payload() a: InstanceArgs) {
    return this.power.run(instanceRef(a.instance), true);
  }

  @MessagePattern(m('stopInstance'))
  stopInstance(@Payload() a: InstanceArgs) {
    return this.power.run(instanceRef(a.instance), false);
  }

  /** Grizzly's stop_instance. */
  @MessagePattern(m('powerOffInstance'))
  powerOffInstance(@Payload() a: InstanceArgs) {
    return this.power.run(instanceRef(a.instance), false);
  }

  /** Grizzly's start_instance. */
  @MessagePattern(m('powerOnInstance'))
  powerOnInstance(@Payload() a: InstanceArgs) {
    return this.power.run(instanceRef(a.instance), true);
  }

  @MessagePattern(m('getConsoleOutput'))
  getConsoleOutput(@Payload() a: ConsoleOutputArgs) {
    return this.console.run(instanceRef(a.instance), a.tail_length);
  }

  @MessagePattern(m('getDiagnostics'))
  getDiagnostics(@Payload() a: InstanceArgs) {
    return this.diagnostics.legacy(instanceRef(a.instance));
  }

  @MessagePattern(m('getInstanceDiagnostics'))
  getInstanceDiagnostics(@Payload() a: InstanceArgs) {
    return this.diagnostics.object(instanceRef(a.instance));
  }

  @MessagePattern(m('getHostUptime'))
  getHostUptime() {
    return this.uptime.run();
  }

  @MessagePattern(m('getInfo'))
  getInfo(@Payload() a: InstanceArgs) {
    return this.queries.info(instanceRef(a.instance));
  }

  @MessagePattern(m('listInstances'))
  listInstances() {
    return this.queries.list();
  }

  /**
   * From the deploy helper (cast): a node's deploy moved on. The spawn waiting on that node
   * re-reads its row now (the row decides; the event only saves the wait for the next poll).
   */
  @MessagePattern(patternOf(COMPUTE_BAREMETAL, 'deployStateChanged'))
  deployStateChanged(@Payload() a: DeployStateChangedArgs): void {
    this.waits.wakeFor(a);
  }

  /** A scheduler that just started asks every compute host for its nodes (fanout cast). */
  @MessagePattern(m('publishServiceCapabilities'))
  async publishServiceCapabilities(): Promise<void> {
    await this.resources.report('scheduler asked');
  }
}
