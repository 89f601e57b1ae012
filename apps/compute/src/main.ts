// compute: the scheduler-facing BareMetalDriver: RPC, spawn/destroy/reboot/power, resource reports.
// The process wiring is shared (libs/service); this app's own modules join `imports`. The RPC
// surface (Nova's compute 6.4 and 2.27 endpoints, our `baremetal` namespace) is libs/contracts'.
import 'reflect-metadata';
import { COMPUTE_SERVER } from '@bm/contracts';
import { runService } from '@bm/service';
import { ComputeModule } from './compute.module';

// Nova's topic: only `compute.<host>` (no Nova peer declares it), where the scheduler's
// run_instance casts wait, outlives a broker restart.
void runService({
  name: 'compute',
  healthPort: 9101,
  imports: [ComputeModule],
  rpc: COMPUTE_SERVER,
  durableQueues: 'server',
});
