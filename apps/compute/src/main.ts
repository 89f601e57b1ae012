// compute: the scheduler-facing BareMetalDriver: RPC, spawn/destroy/reboot/power, resource reports.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { runService } from '@bm/service';
import { ComputeModule } from './compute.module';

// Two oslo endpoints, as Nova's compute manager: current callers (6.x) and Grizzly-era ones (2.x).
void runService({
  name: 'compute',
  healthPort: 9101,
  imports: [ComputeModule],
  rpc: { topic: 'compute', endpoints: [{ version: '6.0' }, { version: '2.0' }] },
});
