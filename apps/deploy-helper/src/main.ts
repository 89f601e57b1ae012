// deploy-helper: the deploy ramdisk's port-10000 callback and deploy jobs.
// The process wiring is shared (libs/service); this app's own modules join `imports`.
import 'reflect-metadata';
import { runService } from '@bm/service';

void runService({ name: 'deploy-helper', healthPort: 9105, imports: [] });
