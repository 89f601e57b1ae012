// power: power drivers (IPMI) on the bus.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { runService } from '@bm/service';

void runService({ name: 'power', healthPort: 9103, imports: [] });
