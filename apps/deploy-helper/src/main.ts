// deploy-helper: the deploy ramdisk's port-10000 callback and deploy jobs.
// The process wiring is shared (libs/service); this app's own module joins `imports`.
import 'reflect-metadata';
import { runService } from '@bm/service';
import { DeployHelperModule } from './deploy-helper.module';

void runService({ name: 'deploy-helper', healthPort: 9105, imports: [DeployHelperModule] });
