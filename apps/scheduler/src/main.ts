// scheduler: BaremetalHostManager over the compute hosts' reports; select_destinations.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import { runService } from '@bm/service';
import { SchedulerModule } from './scheduler.module';

void runService({
  name: 'scheduler',
  healthPort: 9102,
  imports: [SchedulerModule],
  rpc: { topic: 'scheduler', endpoints: [{ version: '4.0' }] },
});
