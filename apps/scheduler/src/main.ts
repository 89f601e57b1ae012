// scheduler: BaremetalHostManager: host states from compute reports, flavor matching.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { runService } from '@bm/service';

void runService({ name: 'scheduler', healthPort: 9102, imports: [] });
