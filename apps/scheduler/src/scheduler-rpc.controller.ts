import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  SCHEDULER,
  SchedulerRunInstanceArgs,
  SelectDestinationsArgs,
  type SelectDestinationsResult,
  UpdateServiceCapabilitiesArgs,
  patternOf,
} from '@bm/contracts';
import { OsloContext, OsloController } from '@bm/messaging';
import { HostStates } from './host-states.service';
import { ScheduleInstances } from './use-cases/schedule-instances';
import { SelectDestinations } from './use-cases/select-destinations';

const m = (method: keyof typeof SCHEDULER.methods) => patternOf(SCHEDULER, method);

/** Nova's scheduler RPC API (libs/contracts SCHEDULER), each method mapped onto its use-case. */
@OsloController()
export class SchedulerRpcController {
  constructor(
    private readonly hosts: HostStates,
    private readonly selectDestinations: SelectDestinations,
    private readonly scheduleInstances: ScheduleInstances,
  ) {}

  /** A compute host's resource report, one dict per node (get_available_resource). */
  @MessagePattern(m('updateServiceCapabilities'))
  updateServiceCapabilities(@Payload() a: UpdateServiceCapabilitiesArgs, @Ctx() ctx: OsloContext): void {
    this.hosts.replaceHost(a.host, a.capabilities, ctx.getSender());
  }

  /** Every form Nova's SchedulerAPI sends, 4.0 to 4.5 (libs/contracts SelectDestinationsArgs). */
  @MessagePattern(m('selectDestinations'))
  select(@Payload() a: SelectDestinationsArgs): Promise<SelectDestinationsResult> {
    return this.selectDestinations.answer(a);
  }

  @MessagePattern(m('runInstance'))
  runInstance(@Payload() a: SchedulerRunInstanceArgs): Promise<void> {
    return this.scheduleInstances.run(a);
  }
}
