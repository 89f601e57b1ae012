// scheduler: BaremetalHostManager over the compute hosts' reports; select_destinations, run_instance.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import 'reflect-metadata';
import { SCHEDULER_SERVER } from '@bm/contracts';
import { runService } from '@bm/service';
import { SchedulerModule } from './scheduler.module';

// Nova's topic: only `scheduler.<host>` (no Nova peer declares it) outlives a broker restart.
void runService({
  name: 'scheduler',
  healthPort: 9102,
  imports: [SchedulerModule],
  rpc: SCHEDULER_SERVER,
  durableQueues: 'server',
});
