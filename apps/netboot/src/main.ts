// netboot: PXE files (pxelinux configs, images, 01-<mac> links) on the bus, and the servers that
// boot the nodes from them: DHCP (full or proxy, enrolled MACs only) and TFTP of tftp_root.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import 'reflect-metadata';
import { NETBOOT_SERVER } from '@bm/contracts';
import { runService } from '@bm/service';
import { NetbootModule } from './netboot.module';

void runService({
  name: 'netboot',
  healthPort: 9104,
  imports: [NetbootModule],
  rpc: NETBOOT_SERVER,
  // Our own topic: its queues and the requests in them outlive a broker restart.
  durableQueues: 'all',
});
