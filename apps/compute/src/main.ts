// compute: the scheduler-facing BareMetalDriver: RPC, spawn/destroy/reboot/power, resource reports.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { runService } from '@bm/service';

void runService({ name: 'compute', healthPort: 9101, imports: [] });
