// compute: the scheduler-facing BareMetalDriver: RPC, spawn/destroy/reboot/power, resource reports.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { DEPLOY_EVENT } from '@bm/domain';
import { runService } from '@bm/service';
import { ComputeModule } from './compute.module';

// Two oslo endpoints, as Nova's compute manager: current callers (6.x, minors up to 6.4) and
// Grizzly-era ones (Grizzly's compute RPC API ends at 2.27). oslo accepts a request whose major
// matches and whose minor is at most the endpoint's. A third endpoint, in our own `baremetal`
// namespace, takes the deploy helper's deploy_state_changed casts without touching Nova's API.
void runService({
  name: 'compute',
  healthPort: 9101,
  imports: [ComputeModule],
  rpc: {
    topic: 'compute',
    endpoints: [
      { version: '6.4' },
      { version: '2.27' },
      { version: DEPLOY_EVENT.version, namespace: DEPLOY_EVENT.namespace },
    ],
  },
});
