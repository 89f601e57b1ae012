// netboot: PXE files (pxelinux configs, images, 01-<mac> links) on the bus; DHCP (PXE) and TFTP next.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import { runService } from '@bm/service';
import { NetbootModule } from './netboot.module';

void runService({
  name: 'netboot',
  healthPort: 9104,
  imports: [NetbootModule],
  rpc: { topic: 'baremetal-netboot', endpoints: [{ version: '1.0' }] },
});
