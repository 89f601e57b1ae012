// netboot: DHCP (PXE), TFTP and pxelinux configs.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import { runService } from '@bm/service';

void runService({ name: 'netboot', healthPort: 9104, imports: [] });
