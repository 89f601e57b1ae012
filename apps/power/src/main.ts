// power: IPMI power control of the nodes (on, off, reboot, boot device) and the power-state sync.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import 'reflect-metadata';
import { POWER_SERVER } from '@bm/contracts';
import { runService } from '@bm/service';
import { PowerModule } from './power.module';

void runService({
  name: 'power',
  healthPort: 9103,
  imports: [PowerModule],
  rpc: POWER_SERVER,
  // Our own topic: its queues and the requests in them outlive a broker restart.
  durableQueues: 'all',
});
